"""Per-prediction estimate cells: their sums give the same figures as estimating the rows at
once, rows that cannot be estimated count in nothing, and a window keeps its latest rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlmon.errors import EstimationError
from mlmon.monitoring.estimation import ConfidenceEstimator, LossEstimator
from mlmon.monitoring.estimation.live import (
    Estimated,
    EstimateWindow,
    FeatureCoder,
    LiveEstimator,
    estimate_error,
    estimated_figures,
)
from mlmon.monitoring.estimation.roc_auc import estimated_roc_auc
from tests.unit.monitoring.estimation.simulated import CLASSES, classified, regressed


@pytest.fixture(scope="module")
def classifier() -> LiveEstimator:
    reference = classified(3000, 1.0, seed=1, sharpen=2.0)
    fitted = ConfidenceEstimator.fit(reference.y_true, reference.y_pred, reference.scores, CLASSES)
    return LiveEstimator("classification", confidence=fitted)


@pytest.fixture(scope="module")
def regressor() -> LiveEstimator:
    reference = regressed(3000, 0.0, seed=2)
    coder = FeatureCoder(("x0", "x1"), {})
    loss = LossEstimator.fit(reference.features, reference.y_true, reference.y_pred)
    return LiveEstimator("regression", loss=loss, coder=coder)


def test_classification_cells_sum_to_the_estimate_of_the_rows(classifier: LiveEstimator) -> None:
    rows = classified(1000, 3.0, seed=3, sharpen=2.0)
    estimated = classifier.classification(rows.y_pred, rows.scores, CLASSES)
    figures = estimated_figures(estimated.cells.sum(axis=0))
    assert classifier._confidence is not None
    direct = classifier._confidence.estimate(rows.y_pred, rows.scores, CLASSES)
    assert figures["est_accuracy"] == pytest.approx(direct.accuracy)
    assert figures["est_precision"] == pytest.approx(direct.precision)
    assert figures["est_recall"] == pytest.approx(direct.recall)
    assert figures["est_f1"] == pytest.approx(direct.f1)


def test_rows_without_scores_or_of_an_unknown_class_count_in_nothing(
    classifier: LiveEstimator,
) -> None:
    rows = classified(10, 1.0, seed=4)
    scores, y_pred = rows.scores.copy(), rows.y_pred.copy()
    scores[0] = np.nan  # no scores
    y_pred[1] = 7.0  # a class the reference never saw
    cells = classifier.classification(y_pred, scores, CLASSES).cells
    assert cells[:2].sum() == 0
    assert cells[2:, 0].tolist() == [1.0] * 8
    assert math.isclose(cells[2:, 1:].sum(), 8.0)  # each row's probabilities sum to 1


def test_scores_in_another_class_order_give_the_same_cells(classifier: LiveEstimator) -> None:
    rows = classified(50, 1.0, seed=5)
    order = [2, 0, 1]
    shuffled = classifier.classification(rows.y_pred, rows.scores[:, order], [2.0, 0.0, 1.0])
    plain = classifier.classification(rows.y_pred, rows.scores, CLASSES)
    np.testing.assert_allclose(shuffled.cells, plain.cells)


def test_scores_of_other_classes_are_refused(classifier: LiveEstimator) -> None:
    rows = classified(5, 1.0, seed=6)
    with pytest.raises(EstimationError, match="differ from the reference"):
        classifier.classification(rows.y_pred, rows.scores, (0.0, 1.0, 5.0))


def test_regression_cells_sum_to_the_estimate_and_every_nth_row(regressor: LiveEstimator) -> None:
    rows = regressed(400, 1.5, seed=7)
    estimated = regressor.regression(rows.features, rows.y_pred)
    assert regressor._loss is not None
    direct = regressor._loss.estimate(rows.features, rows.y_pred)
    figures = estimated_figures(estimated.cells.sum(axis=0))
    assert figures["est_mae"] == pytest.approx(direct.mae)
    assert figures["est_rmse"] == pytest.approx(direct.rmse)
    sampled = LiveEstimator("regression", loss=regressor._loss, every=4)
    cells = sampled.regression(rows.features, rows.y_pred).cells
    assert np.flatnonzero(cells[:, 0]).tolist() == list(range(0, 400, 4))


def test_figures_of_no_rows_and_of_a_wrong_width() -> None:
    assert estimated_figures(np.zeros(3)) == {}
    with pytest.raises(EstimationError, match="neither"):
        estimated_figures(np.array([1.0, 0.5, 0.5, 0.0, 0.0, 0.0]))


def test_estimate_error_compares_the_headline_figure() -> None:
    assert estimate_error({"mae": 10.0, "est_mae": 12.5}) == 2.5
    assert estimate_error({"accuracy": 0.8, "est_accuracy": 0.75}) == pytest.approx(0.05)
    assert estimate_error({"mae": None, "est_mae": 3.0}) is None


def test_the_feature_coder_codes_categories_and_reads_rows_as_columns() -> None:
    columns = {
        "size": np.array([1.0, np.nan, 3.0]),
        "colour": np.array(["red", "blue", "red"], dtype=object),
    }
    coder = FeatureCoder.fit(columns)
    assert coder.categories == {"colour": {"red": 0, "blue": 1}}
    assert coder.categorical == [1]
    rows = [{"size": 2.0, "colour": "blue"}, {"size": None, "colour": "green"}, {"colour": "red"}]
    expected = np.array([[2.0, 1.0], [np.nan, np.nan], [np.nan, 0.0]])
    np.testing.assert_array_equal(coder.rows(rows), expected)
    as_columns = {
        "size": np.array([2.0, np.nan, np.nan]),
        "colour": np.array(["blue", "green", "red"], dtype=object),
    }
    np.testing.assert_array_equal(coder.columns(as_columns, 3), expected)
    np.testing.assert_array_equal(coder.rows([[4.0, "red"]]), [[4.0, 0.0]])  # a vector


@given(st.lists(st.integers(1, 40), min_size=1, max_size=12), st.integers(5, 100))
def test_a_window_holds_exactly_its_latest_rows(parts: list[int], size: int) -> None:
    rng = np.random.default_rng(sum(parts) + size)
    window = EstimateWindow(size)
    everything = []
    for rows in parts:
        cells = np.column_stack([np.ones(rows), rng.random(rows), rng.random(rows)])
        everything.append(cells)
        window.add(Estimated(cells))
    latest = np.concatenate(everything)[-size:].sum(axis=0)
    assert window.figures() == pytest.approx(estimated_figures(latest))


def test_a_classifier_window_has_the_roc_auc_of_its_rows(classifier: LiveEstimator) -> None:
    window = EstimateWindow(300)
    parts = [classified(200, 1.0, seed=s, sharpen=2.0) for s in (8, 9)]
    estimated = [classifier.classification(p.y_pred, p.scores, CLASSES) for p in parts]
    for part in estimated:
        window.add(part)
    scores = np.concatenate([e.scores for e in estimated if e.scores is not None])[-300:]
    calibrated = np.concatenate([e.calibrated for e in estimated if e.calibrated is not None])
    figures = window.figures()
    assert figures["est_roc_auc"] == pytest.approx(estimated_roc_auc(scores, calibrated[-300:]))
    assert 0.5 < figures["est_roc_auc"] < 1.0


def test_score_names_are_looked_up_not_coded_and_strangers_refused() -> None:
    reference = classified(500, 1.0, seed=10)
    fitted = ConfidenceEstimator.fit(reference.y_true, reference.y_pred, reference.scores, CLASSES)
    names = {"a": 0.0, "b": 1.0, "c": 2.0}
    estimator = LiveEstimator("classification", confidence=fitted, class_names=names)
    assert estimator.classes_named(["c", "a", "b"]) == [2.0, 0.0, 1.0]
    with pytest.raises(EstimationError, match=r"does not have: \['zz'\]"):
        estimator.classes_named(["a", "zz"])


def test_too_many_classes_turn_estimation_off() -> None:
    k = 40
    rng = np.random.default_rng(11)
    scores = rng.dirichlet(np.ones(k), size=400)
    truth = (rng.random(400)[:, None] > scores.cumsum(axis=1)).sum(axis=1).clip(0, k - 1)
    classes = tuple(float(c) for c in range(k))
    fitted = ConfidenceEstimator.fit(truth.astype(float), scores.argmax(axis=1), scores, classes)
    with pytest.raises(EstimationError, match="off past 32 classes"):
        LiveEstimator("classification", confidence=fitted)


def test_rows_whose_features_the_reference_does_not_know_are_not_estimated(
    regressor: LiveEstimator,
) -> None:
    features = regressor.features_of([{"x0": 1.0, "x1": 2.0}, {"other": 3.0}, {}])
    estimated = regressor.regression(features, np.array([1.0, 2.0, 3.0]))
    assert estimated.cells[:, 0].tolist() == [1.0, 0.0, 0.0]
    assert estimated.unusable == 2
