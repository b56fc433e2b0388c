"""Score figures and per-class figures of a classifier's rows: each equals scikit-learn's (or
a hand computation) on the same rows, with missing scores, unknown classes, one class only
and numeric classes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn
from hypothesis import assume, given
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)

from mlmon.monitoring.quality.classes import class_figures, display_order, label_name
from mlmon.monitoring.quality.figures import confusion_of
from mlmon.monitoring.quality.scores import (
    ECE_BINS,
    EPS,
    binary_auc,
    score_figures,
    scored_classification,
)
from mlmon.wire.labels import label_code

NAMES = ("Adelie", "Chinstrap", "Gentoo")
CLASSES = tuple(label_code(name) for name in NAMES)
SKLEARN = tuple(int(part) for part in sklearn.__version__.split(".")[:2])


def random_rows(
    rows: int, seed: int, classes: tuple[float, ...] = CLASSES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True labels, predictions (mostly the top score) and scores of a middling classifier."""
    rng = np.random.default_rng(seed)
    k = len(classes)
    truth_index = rng.integers(0, k, rows)
    logits = rng.normal(0, 1, (rows, k))
    logits[np.arange(rows), truth_index] += 1.2  # better than chance
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.asarray(classes)
    predicted = labels[scores.argmax(axis=1)]
    flip = rng.random(rows) < 0.05  # a threshold that is not the top score, now and then
    predicted[flip] = labels[rng.integers(0, k, int(flip.sum()))]
    return labels[truth_index], predicted, scores


def sorted_columns(scores: np.ndarray, classes: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's layout: columns in ascending label order."""
    order = np.argsort(classes)
    return scores[:, order], np.asarray(classes)[order]


def hand_ece(truth: np.ndarray, scores: np.ndarray, classes: tuple[float, ...]) -> float:
    """ECE the textbook way: row by row into 15 bins (lo, hi], then the weighted gaps."""
    probabilities = scores / scores.sum(axis=1, keepdims=True)
    ordered, labels = sorted_columns(probabilities, classes)
    bins: list[list[tuple[float, bool]]] = [[] for _ in range(ECE_BINS)]
    for row, label in zip(ordered, truth, strict=True):
        top = int(np.argmax(row))
        confidence = float(row[top])
        index = max(0, math.ceil(confidence * ECE_BINS) - 1)
        bins[index].append((confidence, labels[top] == label))
    gaps = 0.0
    for held in bins:
        if held:
            accuracy = sum(hit for _, hit in held) / len(held)
            confidence = sum(c for c, _ in held) / len(held)
            gaps += len(held) / len(truth) * abs(accuracy - confidence)
    return gaps


def hand_brier(truth: np.ndarray, scores: np.ndarray, classes: tuple[float, ...]) -> float:
    probabilities = scores / scores.sum(axis=1, keepdims=True)
    onehot = (truth[:, None] == np.asarray(classes)[None, :]).astype(float)
    return float(np.mean(np.sum((probabilities - onehot) ** 2, axis=1)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_score_figures_equal_scikit_learn_on_random_rows(seed: int) -> None:
    truth, _, scores = random_rows(1_500, seed)
    got = score_figures(truth, scores, CLASSES)
    ordered, labels = sorted_columns(scores, CLASSES)
    assert got.scored_rows == 1_500
    assert got.log_loss == pytest.approx(log_loss(truth, ordered, labels=labels), rel=1e-12)
    ovr = roc_auc_score(truth, ordered, labels=labels, multi_class="ovr", average="macro")
    assert got.roc_auc_ovr == pytest.approx(ovr, rel=1e-12)
    assert got.brier == pytest.approx(hand_brier(truth, scores, CLASSES), rel=1e-12)
    if SKLEARN >= (1, 7):  # its multi-class Brier score: sum over classes, mean over rows
        assert got.brier == pytest.approx(brier_score_loss(truth, ordered, labels=labels))
    assert got.ece == pytest.approx(hand_ece(truth, scores, CLASSES), abs=1e-12)
    assert got.roc_auc_skipped == ()


def test_class_figures_equal_scikit_learn_with_label_texts() -> None:
    truth, predicted, scores = random_rows(2_000, 7)
    figures = scored_classification(truth, predicted, scores, CLASSES).classes
    assert figures.names() == list(NAMES)  # texts, alphabetically
    labels = list(figures.labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    np.testing.assert_allclose(figures.precision, precision, rtol=1e-12)
    np.testing.assert_allclose(figures.recall, recall, rtol=1e-12)
    np.testing.assert_allclose(figures.f1, f1, rtol=1e-12)
    assert list(figures.support) == support.tolist()
    np.testing.assert_array_equal(
        figures.confusion, confusion_matrix(truth, predicted, labels=labels)
    )
    assert figures.accuracy == pytest.approx(accuracy_score(truth, predicted), rel=1e-12)
    assert figures.macro_f1 == pytest.approx(f1_score(truth, predicted, average="macro"))
    per_class = figures.per_class()
    assert list(per_class) == list(NAMES)
    assert per_class["Gentoo"]["support"] == int(np.count_nonzero(truth == CLASSES[2]))
    assert figures.unknown_class_rows == 0


def test_rows_without_scores_are_left_out_and_counted() -> None:
    """NaN rows (predictions without scores) leave the score figures; the label figures keep
    every row."""
    truth, predicted, scores = random_rows(1_000, 3)
    missing = np.random.default_rng(3).random(1_000) < 0.3
    holed = scores.copy()
    holed[missing] = np.nan
    result = scored_classification(truth, predicted, holed, CLASSES)
    kept = score_figures(truth[~missing], scores[~missing], CLASSES)
    assert result.scores.scored_rows == int(np.count_nonzero(~missing)) < 1_000
    assert result.scores == kept
    assert result.classes.count == 1_000
    none = score_figures(truth, np.full_like(scores, np.nan), CLASSES)
    assert (none.scored_rows, none.log_loss, none.roc_auc_ovr, none.ece) == (0, None, None, None)


def test_an_unknown_true_class_counts_as_wrong_and_costs_the_clipped_log_loss() -> None:
    """A true label the model never predicts nor scores: counted as an unknown class; its rows
    are wrong, add -log(eps) to the log loss (scikit-learn's with a zero column for it) and 1
    to the Brier score, and it gets no AUC."""
    truth, predicted, scores = random_rows(600, 4)
    stranger = label_code("Emperor")
    truth[:25] = stranger
    result = scored_classification(truth, predicted, scores, CLASSES)
    assert result.classes.unknown_class_rows == 25
    assert "Emperor" in result.classes.names()
    assert result.classes.accuracy == pytest.approx(accuracy_score(truth, predicted))
    extended = np.column_stack([scores, np.zeros(600)])
    ordered, labels = sorted_columns(extended, (*CLASSES, stranger))
    assert result.scores.log_loss == pytest.approx(log_loss(truth, ordered, labels=labels))
    assert result.scores.brier == pytest.approx(hand_brier(truth, extended, (*CLASSES, stranger)))
    per_class = [roc_auc_score(truth == code, scores[:, j]) for j, code in enumerate(CLASSES)]
    assert result.scores.roc_auc_ovr == pytest.approx(np.mean(per_class))
    assert -math.log(EPS) == pytest.approx(36.04, abs=0.01)


def test_a_score_class_absent_from_y_true_has_no_auc_and_is_named() -> None:
    truth, _, scores = random_rows(800, 5)
    truth[truth == CLASSES[1]] = CLASSES[0]  # no Chinstrap among the true labels
    figures = score_figures(truth, scores, CLASSES)
    assert figures.roc_auc_skipped == (CLASSES[1],)
    assert figures.to_dict()["roc_auc_skipped"] == ["Chinstrap"]
    expected = [roc_auc_score(truth == CLASSES[j], scores[:, j]) for j in (0, 2)]
    assert figures.roc_auc_ovr == pytest.approx(np.mean(expected), rel=1e-12)
    ordered, labels = sorted_columns(scores, CLASSES)
    assert figures.log_loss == pytest.approx(log_loss(truth, ordered, labels=labels))


def test_one_class_only() -> None:
    """One score class, always right: log loss -log(1 - eps), Brier 0, ECE 0, no AUC."""
    only = (label_code("Adelie"),)
    truth = np.full(10, only[0])
    result = scored_classification(truth, truth.copy(), np.ones((10, 1)), only)
    assert result.scores.log_loss == pytest.approx(-math.log(1 - EPS))
    assert (result.scores.brier, result.scores.ece) == (0.0, 0.0)
    assert result.scores.roc_auc_ovr is None
    assert result.scores.roc_auc_skipped == only
    assert (result.classes.accuracy, result.classes.macro_f1) == (1.0, 1.0)
    # Three score classes, one true label: every class lacks positives or negatives.
    truth, _, scores = random_rows(50, 6)
    truth[:] = CLASSES[2]
    figures = score_figures(truth, scores, CLASSES)
    assert figures.roc_auc_ovr is None
    assert set(figures.roc_auc_skipped) == set(CLASSES)


def test_numeric_classes_are_their_numbers() -> None:
    """Labels 0, 1, 2 as numbers (no codes): named "0", "1", "2"; binary: the AUC is the
    binary one."""
    classes = (2.0, 0.0, 1.0)  # in the scores' order, not sorted
    truth, predicted, scores = random_rows(900, 8, classes)
    result = scored_classification(truth, predicted, scores, classes)
    assert result.classes.names() == ["0", "1", "2"]
    ordered, labels = sorted_columns(scores, classes)
    assert result.scores.log_loss == pytest.approx(log_loss(truth, ordered, labels=labels))
    ovr = roc_auc_score(truth, ordered, labels=labels, multi_class="ovr")
    assert result.scores.roc_auc_ovr == pytest.approx(ovr, rel=1e-12)
    binary = (0.0, 1.0)
    truth, predicted, scores = random_rows(700, 9, binary)
    figures = score_figures(truth, scores, binary)
    assert figures.roc_auc_ovr == pytest.approx(roc_auc_score(truth, scores[:, 1]), rel=1e-12)
    assert figures.log_loss == pytest.approx(log_loss(truth, scores, labels=[0.0, 1.0]))


def test_scores_not_summing_to_one_are_divided_by_their_sum() -> None:
    truth, _, scores = random_rows(300, 10)
    rounded = np.round(scores, 2)  # rows now sum to 0.99 .. 1.01
    rounded[rounded.sum(axis=1) == 0] = 1.0
    figures = score_figures(truth, rounded, CLASSES)
    normal = rounded / rounded.sum(axis=1, keepdims=True)
    ordered, labels = sorted_columns(normal, CLASSES)
    assert figures.log_loss == pytest.approx(log_loss(truth, ordered, labels=labels))
    assert figures.ece == pytest.approx(hand_ece(truth, rounded, CLASSES), abs=1e-12)


def test_ece_by_hand_on_four_rows() -> None:
    """Confidence 0.9 twice, right (bin (13/15, 14/15]), and 0.8 twice, wrong (bin
    (11/15, 12/15]): |2 - 1.8| + |0 - 1.6| over four rows."""
    a, b = CLASSES[:2]
    truth = np.array([a, a, b, b])
    scores = np.array([[0.9, 0.1], [0.9, 0.1], [0.8, 0.2], [0.8, 0.2]])
    figures = score_figures(truth, scores, (a, b))
    assert figures.ece == pytest.approx((0.2 + 1.6) / 4)


def test_label_names_and_display_order() -> None:
    codes = [label_code("b"), 2.0, label_code("a"), 0.5, 10.0]
    assert [label_name(codes[i]) for i in display_order(codes)] == ["0.5", "2", "10", "a", "b"]
    labels, confusion = confusion_of(np.array(codes), np.array(codes))
    figures = class_figures(list(labels), confusion)
    assert figures.names() == ["0.5", "2", "10", "a", "b"]
    assert figures.unknown_class_rows is None  # no score classes: nothing is unknown
    assert np.trace(figures.confusion) == 5


def test_shapes_must_agree() -> None:
    with pytest.raises(ValueError, match="scores of shape"):
        score_figures(np.zeros(3), np.zeros((3, 2)), (0.0, 1.0, 2.0))


TIED = st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 1.0]) | st.floats(0, 1)


@given(st.lists(st.tuples(st.booleans(), TIED), min_size=2, max_size=60))
def test_binary_auc_is_scikit_learns_with_ties(rows: list[tuple[bool, float]]) -> None:
    """Scores with many ties (a rounding model): the rank statistic equals roc_auc_score."""
    positive = np.array([p for p, _ in rows])
    assume(positive.any() and not positive.all())
    score = np.array([s for _, s in rows])
    assert binary_auc(positive, score) == pytest.approx(roc_auc_score(positive, score), abs=1e-12)
