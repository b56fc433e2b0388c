"""ScoreSums: score figures summed block by block equal the exact ones on every row (the AUC
exactly for scores with four decimals, within its bound otherwise), in bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mlmon.metric_log.cells import ScoreMatrix
from mlmon.monitoring.quality.scores import score_figures
from mlmon.summary.class_scores import AUC_BINS, AUC_CLASSES, ScoreSums
from mlmon.wire.labels import label_code

CLASSES = tuple(label_code(name) for name in ("Adelie", "Chinstrap", "Gentoo"))


def rows(count: int, seed: int, decimals: int | None = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth_index = rng.integers(0, 3, count)
    logits = rng.normal(0, 1, (count, 3))
    logits[np.arange(count), truth_index] += 1.0
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if decimals is not None:
        scores = np.round(scores, decimals)
    scores[rng.random(count) < 0.1] = np.nan  # predictions without scores
    return np.asarray(CLASSES)[truth_index], scores


def fed(truth: np.ndarray, scores: np.ndarray, block: int, seed: int = 0) -> ScoreSums:
    """Blocks whose score columns come in a different order each time, as a block's classes
    are in order of their first appearance in it."""
    rng = np.random.default_rng(seed)
    sums = ScoreSums()
    for start in range(0, len(truth), block):
        part = slice(start, start + block)
        order = rng.permutation(3)
        classes = tuple(CLASSES[j] for j in order)
        sums.add(truth[part], ScoreMatrix(classes, scores[part][:, order]))
    return sums


@pytest.mark.parametrize("block", [1, 97, 5_000])
def test_block_by_block_equals_every_row_at_once(block: int) -> None:
    truth, scores = rows(5_000, 1)
    exact = score_figures(truth, scores, CLASSES)
    got = fed(truth, scores, block).figures()
    assert got.scored_rows == exact.scored_rows
    for name in ("log_loss", "brier", "ece", "roc_auc_ovr"):
        assert getattr(got, name) == pytest.approx(getattr(exact, name), rel=1e-12), name
    assert set(got.roc_auc_classes) == set(CLASSES)


def test_auc_of_full_precision_scores_is_within_its_bound() -> None:
    """Scores with all their digits: pairs in one 1e-4 bin count half, a few 1e-4 at most."""
    truth, scores = rows(20_000, 2, decimals=None)
    exact = score_figures(truth, scores, CLASSES)
    got = fed(truth, scores, 3_000).figures()
    assert got.roc_auc_ovr == pytest.approx(exact.roc_auc_ovr, abs=2e-4)
    assert got.log_loss == pytest.approx(exact.log_loss, rel=1e-12)


def test_ties_count_half_as_scikit_learn_counts_them() -> None:
    rng = np.random.default_rng(3)
    truth = np.asarray(CLASSES)[rng.integers(0, 3, 2_000)]
    scores = rng.choice([0.2, 0.3, 0.5], size=(2_000, 3))  # many equal scores
    sums = ScoreSums()
    sums.add(truth, ScoreMatrix(CLASSES, scores))
    expected = [roc_auc_score(truth == code, scores[:, j]) for j, code in enumerate(CLASSES)]
    assert sums.figures().roc_auc_ovr == pytest.approx(np.mean(expected), rel=1e-12)


def test_a_class_first_scored_late_had_probability_zero_before() -> None:
    """Blocks scoring two classes, then one scoring a third: the earlier rows gave it 0."""
    truth, scores = rows(3_000, 4)
    mixed = scores.copy()
    mixed[:2_000, 2] = np.where(np.isnan(scores[:2_000, 0]), np.nan, 0.0)  # two classes named
    sums = ScoreSums()
    sums.add(truth[:2_000], ScoreMatrix(CLASSES[:2], mixed[:2_000, :2]))
    sums.add(truth[2_000:], ScoreMatrix(CLASSES, mixed[2_000:]))
    exact = score_figures(truth, mixed, CLASSES)
    got = sums.figures()
    for name in ("log_loss", "brier", "ece", "roc_auc_ovr"):
        assert getattr(got, name) == pytest.approx(getattr(exact, name), rel=1e-12), name


def test_unknown_true_labels_and_empty_blocks() -> None:
    truth, scores = rows(1_000, 5)
    truth[:10] = label_code("Emperor")
    sums = fed(truth, scores, 250)
    sums.add(truth[:5], ScoreMatrix.empty(5))  # no scores at all: nothing changes
    exact = score_figures(truth, scores, CLASSES)
    got = sums.figures()
    assert got.scored_rows == exact.scored_rows
    assert got.log_loss == pytest.approx(exact.log_loss, rel=1e-12)
    assert got.brier == pytest.approx(exact.brier, rel=1e-12)
    assert ScoreSums().figures().scored_rows == 0


def test_memory_is_bounded_by_the_classes_not_the_rows() -> None:
    truth, scores = rows(10_000, 6)
    sums = fed(truth, scores, 1_000)
    size = sums.nbytes
    assert size == 3 * 2 * AUC_BINS * 8
    sums.add(truth, ScoreMatrix(CLASSES, scores))
    assert sums.nbytes == size
    many = tuple(float(i) for i in range(AUC_CLASSES + 6))
    wide = ScoreSums()
    values = np.random.default_rng(6).dirichlet(np.ones(len(many)), 8)
    wide.add(np.array([0.0, 1.0, 2.0, 3.0] * 2), ScoreMatrix(many, values))
    assert wide.nbytes == AUC_CLASSES * 2 * AUC_BINS * 8
    figures = wide.figures()
    assert figures.roc_auc_classes == (0.0, 1.0, 2.0, 3.0)
    assert set(many[AUC_CLASSES:]) <= set(figures.roc_auc_skipped)  # past the cap, said so
