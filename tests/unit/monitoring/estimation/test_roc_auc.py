"""The expected AUC: the realized one when the probabilities are certain."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mlmon.monitoring.estimation.roc_auc import class_roc_auc, estimated_roc_auc


@pytest.mark.parametrize("ties", [False, True])
def test_certain_probabilities_give_the_realized_auc(ties: bool) -> None:
    rng = np.random.default_rng(21)
    score = rng.random(500)
    if ties:
        score = np.round(score, 1)
    truth = (rng.random(500) < score).astype(np.float64)
    assert class_roc_auc(score, truth) == pytest.approx(roc_auc_score(truth, score), abs=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_it_is_the_weighted_auc_of_each_row_as_positive_and_negative(ties: bool) -> None:
    """The definition, computed by scikit-learn: row i a positive of weight p_i and a
    negative of weight 1 - p_i."""
    rng = np.random.default_rng(23)
    score = rng.random(400)
    if ties:
        score = np.round(score, 1)
    probability = np.clip(score + rng.normal(0, 0.2, 400), 0, 1)
    weighted = roc_auc_score(
        np.r_[np.ones(400), np.zeros(400)],
        np.r_[score, score],
        sample_weight=np.r_[probability, 1 - probability],
    )
    assert class_roc_auc(score, probability) == pytest.approx(weighted, abs=1e-12)


def test_rows_surely_of_one_kind_have_no_auc() -> None:
    score = np.linspace(0, 1, 10)
    assert class_roc_auc(score, np.ones(10)) is None
    assert class_roc_auc(score, np.zeros(10)) is None
    three = np.column_stack([score, 1 - score, np.zeros(10)])
    assert (
        estimated_roc_auc(three, np.column_stack([np.zeros(10), np.zeros(10), np.ones(10)])) is None
    )


def test_multiclass_is_the_mean_over_classes_that_have_one() -> None:
    rng = np.random.default_rng(22)
    scores = rng.dirichlet([1, 1, 1], 300)
    calibrated = np.column_stack([scores[:, 0], scores[:, 1] + scores[:, 2], np.zeros(300)])
    expected = np.mean(
        [class_roc_auc(scores[:, j], calibrated[:, j]) for j in (0, 1)]  # class 2: none
    )
    assert estimated_roc_auc(scores, calibrated) == pytest.approx(expected)
