"""The expected confusion matrix: additive, so its figures do not depend on the chunking."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, precision_score, recall_score

from mlmon.errors import EstimationError
from mlmon.monitoring.estimation import ConfidenceEstimator, ExpectedConfusion
from tests.unit.monitoring.estimation.simulated import CLASSES, classified

REF = classified(2000, 0.5, seed=11)
ESTIMATOR = ConfidenceEstimator.fit(REF.y_true, REF.y_pred, REF.scores, CLASSES)
ROWS = classified(600, 2.0, seed=12)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 600), max_size=6))
def test_chunks_add_up_to_the_whole(cuts: list[int]) -> None:
    """However the rows are cut into chunks, the chunks' matrices sum to the whole's, and so
    do accuracy, precision, recall and F1."""
    edges = [0, *sorted(cuts), 600]
    parts = ExpectedConfusion.empty(CLASSES)
    for start, end in itertools.pairwise(edges):
        parts += ESTIMATOR.confusion(ROWS.y_pred[start:end], ROWS.scores[start:end], CLASSES)
    whole = ESTIMATOR.confusion(ROWS.y_pred, ROWS.scores, CLASSES)
    np.testing.assert_allclose(parts.matrix, whole.matrix, rtol=1e-12)
    assert parts.rows == whole.rows == 600
    merged, single = parts.estimate(), whole.estimate()
    for name in ("accuracy", "precision", "recall", "f1"):
        assert getattr(merged, name) == pytest.approx(getattr(single, name), rel=1e-12)


def test_certain_probabilities_give_the_realized_figures() -> None:
    """Probabilities of 0 and 1 (the labels known) make the expected matrix the confusion
    matrix: its figures are scikit-learn's."""
    truth = ROWS.y_true.astype(np.intp)
    known = ExpectedConfusion.of(CLASSES, ROWS.y_pred.astype(np.intp), np.eye(3)[truth])
    estimate = known.estimate()
    assert estimate.accuracy == pytest.approx(float((ROWS.y_true == ROWS.y_pred).mean()))
    assert estimate.precision == pytest.approx(
        precision_score(ROWS.y_true, ROWS.y_pred, average="macro")
    )
    assert estimate.recall == pytest.approx(recall_score(ROWS.y_true, ROWS.y_pred, average="macro"))
    assert estimate.f1 == pytest.approx(f1_score(ROWS.y_true, ROWS.y_pred, average="macro"))


def test_matrices_of_other_classes_do_not_add() -> None:
    with pytest.raises(EstimationError, match="different classes"):
        ExpectedConfusion.empty(CLASSES) + ExpectedConfusion.empty((0.0, 1.0))
