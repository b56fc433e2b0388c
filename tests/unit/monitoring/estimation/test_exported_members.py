"""The package's surface, pinned: a name leaving or joining it is a decision."""

from __future__ import annotations

from mlmon.monitoring import estimation


def test_the_exported_members() -> None:
    assert set(estimation.__all__) == {
        "MIN_REFERENCE_ROWS",
        "ClassificationEstimate",
        "ConfidenceEstimator",
        "ExpectedConfusion",
        "LossEstimator",
        "LossSums",
        "RegressionEstimate",
        "estimated_roc_auc",
    }
    assert all(hasattr(estimation, name) for name in estimation.__all__)
