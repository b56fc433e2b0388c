"""CBPE on a simulated classifier whose labels are drawn from its (true) probabilities: the
estimate lies within the binomial noise of the realized figure, before and after a shift."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from mlmon.errors import EstimationError
from mlmon.monitoring.estimation import ConfidenceEstimator, confidence
from mlmon.wire.labels import label_code
from tests.unit.monitoring.estimation.simulated import CLASSES, Classified, classified

REFERENCE_ROWS = 10_000
CHUNK_ROWS = 2_000
CONFIDENT, UNSURE = 0.5, 3.0  # Dirichlet concentrations: the shift makes scores less confident


def bound(proportion: float, rows: int) -> float:
    """Three binomial standard errors of the chunk's realized figure plus three of the
    reference the calibration learnt from."""
    spread = math.sqrt(proportion * (1.0 - proportion))
    return 3.0 * spread * (1.0 / math.sqrt(rows) + 1.0 / math.sqrt(REFERENCE_ROWS))


def fitted(sharpen: float) -> ConfidenceEstimator:
    ref = classified(REFERENCE_ROWS, CONFIDENT, seed=1, sharpen=sharpen)
    return ConfidenceEstimator.fit(ref.y_true, ref.y_pred, ref.scores, CLASSES)


def accuracy(rows: Classified) -> float:
    return float((rows.y_true == rows.y_pred).mean())


@pytest.mark.parametrize("sharpen", [1.0, 2.0])
def test_accuracy_follows_a_covariate_shift(sharpen: float) -> None:
    """Calibrated (1) or over-confident (2) scores: before and after scores turn less
    confident, the estimated accuracy is within the bound of the realized one, and the drop
    shows; over-confident raw scores alone would be off by more than the bound."""
    estimator = fitted(sharpen)
    before = classified(CHUNK_ROWS, CONFIDENT, seed=2, sharpen=sharpen)
    after = classified(CHUNK_ROWS, UNSURE, seed=3, sharpen=sharpen)
    found = []
    for rows in (before, after):
        realized = accuracy(rows)
        estimated = estimator.estimate(rows.y_pred, rows.scores, CLASSES).accuracy
        assert estimated is not None
        assert abs(estimated - realized) <= bound(realized, CHUNK_ROWS)
        found.append(estimated)
    assert accuracy(before) - accuracy(after) > 2 * bound(0.5, CHUNK_ROWS)
    assert found[0] - found[1] > 2 * bound(0.5, CHUNK_ROWS)
    if sharpen > 1.0:
        raw = float(after.scores.max(axis=1).mean())
        assert abs(raw - accuracy(after)) > bound(accuracy(after), CHUNK_ROWS)


def test_macro_figures_and_auc_follow_the_realized_ones() -> None:
    """Precision, recall and F1 within the bound of the smallest predicted class; the
    one-vs-rest AUC within three Hanley-McNeil standard errors plus the reference's."""
    estimator = fitted(2.0)
    rows = classified(CHUNK_ROWS, UNSURE, seed=4, sharpen=2.0)
    estimate = estimator.estimate(rows.y_pred, rows.scores, CLASSES)
    smallest = int(np.bincount(rows.y_pred.astype(int)).min())
    for estimated, realized in [
        (estimate.precision, precision_score(rows.y_true, rows.y_pred, average="macro")),
        (estimate.recall, recall_score(rows.y_true, rows.y_pred, average="macro")),
        (estimate.f1, f1_score(rows.y_true, rows.y_pred, average="macro")),
    ]:
        assert estimated is not None
        assert abs(estimated - realized) <= bound(realized, smallest)
    realized_auc = roc_auc_score(rows.y_true, rows.scores, multi_class="ovr")
    positives = CHUNK_ROWS / len(CLASSES)
    negatives = CHUNK_ROWS - positives
    q1, q2 = realized_auc / (2 - realized_auc), 2 * realized_auc**2 / (1 + realized_auc)
    hanley_mcneil = math.sqrt(
        (
            realized_auc * (1 - realized_auc)
            + (positives - 1) * (q1 - realized_auc**2)
            + (negatives - 1) * (q2 - realized_auc**2)
        )
        / (positives * negatives)
    )
    assert estimate.roc_auc is not None
    assert abs(estimate.roc_auc - realized_auc) <= 3 * hanley_mcneil + bound(0.5, REFERENCE_ROWS)


def test_binary_scores_estimate_accuracy_and_auc() -> None:
    rng = np.random.default_rng(5)

    def rows(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        positive = rng.beta(0.7, 0.7, n)
        truth = (rng.random(n) < positive).astype(np.float64)
        return (
            truth,
            (positive >= 0.5).astype(np.float64),
            np.column_stack([1 - positive, positive]),
        )

    estimator = ConfidenceEstimator.fit(*rows(REFERENCE_ROWS), (0.0, 1.0))
    truth, predicted, scores = rows(CHUNK_ROWS)
    estimate = estimator.estimate(predicted, scores, (0.0, 1.0))
    realized = float((truth == predicted).mean())
    assert estimate.accuracy is not None
    assert estimate.roc_auc is not None
    assert abs(estimate.accuracy - realized) <= bound(realized, CHUNK_ROWS)
    assert abs(estimate.roc_auc - roc_auc_score(truth, scores[:, 1])) <= bound(0.5, CHUNK_ROWS)


def test_columns_are_matched_by_label() -> None:
    """Scores over the same classes in another order give the same estimate."""
    estimator = fitted(1.0)
    rows = classified(500, UNSURE, seed=6)
    order = [2, 0, 1]
    assert estimator.estimate(rows.y_pred, rows.scores, CLASSES) == estimator.estimate(
        rows.y_pred, rows.scores[:, order], [CLASSES[i] for i in order]
    )


def test_text_labels_work_by_their_codes() -> None:
    """Classes named by text (label codes, far below any number) estimate as numbers do."""
    named = tuple(label_code(text) for text in ("cat", "dog", "emu"))
    ref = classified(2000, CONFIDENT, seed=8)
    rows = classified(500, UNSURE, seed=9)

    def coded(labels: np.ndarray) -> np.ndarray:
        return np.asarray(named)[labels.astype(int)]

    by_number = ConfidenceEstimator.fit(ref.y_true, ref.y_pred, ref.scores, CLASSES)
    by_text = ConfidenceEstimator.fit(coded(ref.y_true), coded(ref.y_pred), ref.scores, named)
    assert by_text.estimate(coded(rows.y_pred), rows.scores, named) == by_number.estimate(
        rows.y_pred, rows.scores, CLASSES
    )
    with pytest.raises(EstimationError, match=r"do not name: \['ant'\]"):
        by_text.estimate(np.full(500, label_code("ant")), rows.scores, named)


def test_no_rows_estimate_nothing() -> None:
    estimate = fitted(1.0).estimate(np.empty(0), np.empty((0, 3)), CLASSES)
    assert (estimate.rows, estimate.accuracy, estimate.roc_auc) == (0, None, None)


def test_the_module_example_runs() -> None:
    assert doctest.testmod(confidence).failed == 0


REF = classified(1000, CONFIDENT, seed=7)


@pytest.mark.parametrize(
    ("y_true", "scores", "classes", "reason"),
    [
        (REF.y_true + 10, REF.scores, CLASSES, "no classes in common"),
        (REF.y_true[:50], REF.scores[:50], CLASSES, "at least 100"),
        (np.zeros(1000), REF.scores, CLASSES, "one class"),
        (REF.y_true, np.where(np.arange(1000)[:, None] == 3, np.nan, REF.scores), CLASSES, "NaN"),
        (REF.y_true, REF.scores[:, :1], (0.0,), "at least 2"),
        (REF.y_true, REF.scores, (0.0, 1.0, 1.0), "repeat"),
        (REF.y_true, REF.scores[:, :2], CLASSES, "must be 1000 rows x 3 classes"),
        (REF.y_true, -REF.scores, CLASSES, "negative"),
        (np.full(1000, np.nan), REF.scores, CLASSES, "NaN"),
    ],
)
def test_a_bad_reference_names_its_fault(
    y_true: np.ndarray, scores: np.ndarray, classes: tuple[float, ...], reason: str
) -> None:
    with pytest.raises(EstimationError, match=reason):
        ConfidenceEstimator.fit(y_true, y_true[: len(scores)] * 0, scores, classes)


@pytest.mark.parametrize(
    ("y_pred", "scores", "classes", "reason"),
    [
        (REF.y_pred, REF.scores, (5.0, 6.0, 7.0), "no classes in common"),
        (REF.y_pred, REF.scores, (0.0, 1.0, 7.0), r"missing \['2'\], not in the reference \['7'\]"),
        (REF.y_pred + 5, REF.scores, CLASSES, r"classes the scores do not name: \['5'"),
        (REF.y_pred, np.full_like(REF.scores, np.nan), CLASSES, "1000 row"),
        (REF.y_pred[:10], REF.scores, CLASSES, "must be 10 rows"),
    ],
)
def test_bad_rows_name_their_fault(
    y_pred: np.ndarray, scores: np.ndarray, classes: tuple[float, ...], reason: str
) -> None:
    with pytest.raises(EstimationError, match=reason):
        fitted(1.0).estimate(y_pred, scores, classes)
