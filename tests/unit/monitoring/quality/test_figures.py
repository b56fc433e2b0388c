"""One window's figures: undefined ones None, the confusion matrix as counts, JSON-ready."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import (
    r2_score,
)

from mlmon.monitoring.quality.figures import (
    ClassificationFigures,
    RegressionFigures,
    classification_figures,
)
from mlmon.monitoring.quality.tracker import QualityTracker
from mlmon.wire.labels import label_code


def test_confusion_counts_leave_out_empty_cells() -> None:
    """The confusion matrix as (y_true, y_pred) -> count, integer labels given as ints."""
    tracker = QualityTracker(count_windows=(), time_windows=(), mode="classification")
    tracker.add_many("m", [0, 1, 1, 2], [0, 1, 0, 2], [1, 2, 3, 4])
    tracker.add("m", 2, 2, 5)
    figures = tracker.snapshot(5.0)["m"]["all"]
    assert isinstance(figures, ClassificationFigures)
    assert figures.confusion_counts() == {
        (0.0, 0.0): 1,
        (1.0, 1.0): 1,
        (1.0, 0.0): 1,
        (2.0, 2.0): 2,
    }
    assert figures.accuracy == 0.8


def test_one_record_has_no_r2() -> None:
    """With one record R² is None; every error figure is that record's error."""
    tracker = QualityTracker()
    tracker.add("m", 4.0, 1.0, 0.0)
    for figures in tracker.snapshot(0.0)["m"].values():
        assert isinstance(figures, RegressionFigures)
        assert figures.count == 1
        assert figures.r2 is None
        assert figures.mae == figures.rmse == figures.max_abs_error == 3.0
        assert figures.abs_error_p50 == figures.abs_error_p99 == 3.0
        assert figures.bias == -3.0
        assert figures.mape == 0.75


def test_zero_true_values_give_no_mape_and_constant_ones_no_r2() -> None:
    """All y_true zero: MAPE None, every record skipped; y_true constant: R² None."""
    tracker = QualityTracker(count_windows=(5,), time_windows=(60.0,))
    tracker.add_many("zeros", np.zeros(10), np.arange(10.0), np.arange(10.0))
    tracker.add_many("constant", np.full(10, 0.1), np.arange(10.0), np.arange(10.0))
    snapshot = tracker.snapshot(9.0)
    for name, figures in snapshot["zeros"].items():
        assert isinstance(figures, RegressionFigures)
        assert figures.mape is None
        assert figures.mape_skipped == figures.count == (5 if name == "last_5" else 10)
        assert figures.r2 is None
    assert all(figures.r2 is None for figures in snapshot["constant"].values())


def test_to_dict_is_json_ready() -> None:
    """to_dict keeps None as None and gives plain floats and ints that json encodes."""
    regression = QualityTracker()
    regression.add_many("m", np.array([0.0, 2.0]), np.array([1.0, 2.5]), np.array([1.0, 2.0]))
    classification = QualityTracker(mode="classification")
    classification.add_many("m", [0, 1], [1, 1], [1.0, 2.0])
    for tracker in (regression, classification):
        for figures in tracker.snapshot(2.0)["m"].values():
            data = figures.to_dict()
            json.dumps(data, allow_nan=False)
            scalars = [v for v in data.values() if not isinstance(v, list)]
            assert all(type(v) in (int, float, type(None)) for v in scalars), data
    r2 = regression.snapshot(2.0)["m"]["all"].to_dict()["r2"]
    assert r2 == pytest.approx(r2_score([0.0, 2.0], [1.0, 2.5]))
    data = classification.snapshot(2.0)["m"]["all"].to_dict()
    assert (data["labels"], data["confusion"]) == ([0.0, 1.0], [[0, 1], [0, 1]])


def test_classification_dicts_name_their_labels() -> None:
    """Labels are codes; the dict names them as the process that coded them knows them."""
    adelie = label_code("Adelie")
    data = classification_figures(np.array([adelie, 1.0]), np.array([adelie, adelie])).to_dict()
    assert data["labels"] == [adelie, 1.0]
    assert data["names"] == ["Adelie", "1"]
