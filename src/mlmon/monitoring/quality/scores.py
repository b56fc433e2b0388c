"""Figures of a classifier's class probabilities (its scores), computed exactly from the rows:
log loss, multi-class Brier score, one-vs-rest ROC AUC and expected calibration error; and
`scored_classification`, those with the per-class figures of its labels.

Conventions, shared with the streaming sums the report keeps (`summary.class_scores`):

- Only rows with scores count (`scored_rows`); a row of NaN is a prediction that gave none.
  For log loss, Brier and ECE each row is divided by its sum first, so a model's rounding
  does not skew them; the AUC ranks each class's scores as written.
- A true label the scores do not name (an unknown class) has probability 0: it adds
  -log(eps) to the log loss, as scikit-learn clips probabilities to [eps, 1 - eps], and 1 to
  the Brier score.
- Log loss: the mean of -log(p of the true class), p clipped as above (scikit-learn's
  `log_loss` over the score classes and the unknown ones, whose columns are 0).
- Brier: the mean over rows of the sum over classes of (p - 1[true class])^2; 0 is perfect,
  2 the worst (scikit-learn >= 1.7's multi-class `brier_score_loss`; computed here with numpy,
  as older versions have no multi-class form).
- ROC AUC, one-vs-rest, macro: the mean over score classes of the AUC of that class's score
  against "the true label is this class"; a class with no row of its own (absent from y_true)
  or with nothing but its own rows has none and is left out, and said so (`roc_auc_skipped`).
- ECE: top-label confidence (the highest probability; ties go to the class of smallest code)
  in 15 equal-width bins (lo, hi], the first holding 0 too: sum over bins of
  |hits - summed confidence| / rows, a hit being a top class equal to the true label.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.monitoring.quality.classes import ClassFigures, class_figures, label_name
from mlmon.monitoring.quality.figures import confusion_of

ECE_BINS = 15
EPS = float(np.finfo(np.float64).eps)  # scikit-learn's clip of probabilities for log loss


@dataclass(frozen=True)
class ScoreFigures:
    """The score figures of a set of rows; None where undefined (no scored rows, no class
    with an AUC)."""

    scored_rows: int
    log_loss: float | None
    brier: float | None
    roc_auc_ovr: float | None
    ece: float | None
    roc_auc_classes: tuple[float, ...] = ()  # the classes averaged
    roc_auc_skipped: tuple[float, ...] = ()  # score classes with no AUC (see the module)

    def to_dict(self, name: Callable[[float], str] = label_name) -> dict[str, Any]:
        return {
            "scored_rows": self.scored_rows,
            "log_loss": self.log_loss,
            "brier": self.brier,
            "roc_auc_ovr": self.roc_auc_ovr,
            "ece": self.ece,
            "roc_auc_skipped": [name(code) for code in self.roc_auc_skipped],
        }


NO_SCORES = ScoreFigures(0, None, None, None, None)


@dataclass(frozen=True)
class ScoredClassification:
    """Every figure of a classifier's rows: its labels' over every row, its scores' over the
    rows that have them."""

    classes: ClassFigures
    scores: ScoreFigures


def scored_rows(scores: Floats) -> npt.NDArray[np.bool_]:
    """Per row: it has scores (no NaN)."""
    if scores.shape[1] == 0:
        return np.zeros(len(scores), dtype=np.bool_)
    return np.logical_not(np.isnan(scores).any(axis=1))


def normalized(scores: Floats) -> Floats:
    """Each row divided by its sum (rows that have scores, so a positive one)."""
    result: Floats = scores / scores.sum(axis=1, keepdims=True)
    return result


def true_probability(probabilities: Floats, classes: Sequence[float], y_true: Floats) -> Floats:
    """Per row, the probability of its true label: 0 for a label the scores do not name."""
    where = {code: i for i, code in enumerate(classes)}
    column = np.array([where.get(float(label), -1) for label in y_true], dtype=np.intp)
    known = column >= 0
    result = np.zeros(len(y_true))
    result[known] = probabilities[np.flatnonzero(known), column[known]]
    return result


def top_label(probabilities: Floats, classes: Sequence[float]) -> tuple[Floats, Floats]:
    """Per row, the highest probability and its class (ties: the smallest code)."""
    order = np.argsort(np.asarray(classes, dtype=np.float64), kind="stable")
    ranked = probabilities[:, order]
    top = np.argmax(ranked, axis=1)
    confidence = ranked[np.arange(len(ranked)), top]
    return confidence, np.asarray(classes, dtype=np.float64)[order][top]


def binary_auc(positive: npt.NDArray[np.bool_], score: Floats) -> float:
    """ROC AUC of `score` for `positive` (both present): the Mann-Whitney statistic with tied
    scores sharing their average rank, which is scikit-learn's `roc_auc_score` (trapezoids
    over distinct thresholds) to rounding."""
    order = np.argsort(score, kind="mergesort")
    ordered = score[order]
    first = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], len(score))
    ranks = np.empty(len(score))
    ranks[order] = ((starts + ends + 1) / 2.0)[np.cumsum(first) - 1]
    n_pos = int(np.count_nonzero(positive))
    n_neg = len(score) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def ece_bin(confidence: Floats) -> npt.NDArray[np.intp]:
    """The bin of each confidence: (k/15, (k+1)/15] is bin k; 0 goes to the first."""
    bins: npt.NDArray[np.intp] = np.clip(
        np.ceil(confidence * ECE_BINS).astype(np.intp) - 1, 0, ECE_BINS - 1
    )
    return bins


def ece_of(bins: npt.NDArray[np.intp], confidence: Floats, hits: Floats, rows: int) -> float:
    """Expected calibration error from each row's bin, confidence and hit (1.0 or 0.0)."""
    summed = np.bincount(bins, weights=confidence, minlength=ECE_BINS)
    correct = np.bincount(bins, weights=hits, minlength=ECE_BINS)
    return float(np.abs(correct - summed).sum() / rows)


def score_figures(y_true: Floats, scores: Floats, classes: Sequence[float]) -> ScoreFigures:
    """The score figures of the rows that have scores (`scores`: rows x `classes`, a row of NaN
    where there are none), exactly: scikit-learn's log loss and ROC AUC, computed with numpy
    (the metric service computes them live, and scikit-learn's import cost it ~1.2 s of CPU,
    its checks ~4 ms a call; tests compare the two)."""
    if scores.shape != (len(y_true), len(classes)):
        msg = f"scores of shape {scores.shape} for {len(y_true)} rows and {len(classes)} classes"
        raise ValueError(msg)
    scored = scored_rows(scores)
    rows = int(np.count_nonzero(scored))
    if rows == 0:
        return NO_SCORES
    probabilities = normalized(scores[scored])
    truth = y_true[scored]
    p_true = true_probability(probabilities, classes, truth)
    # scikit-learn's log_loss: -log of the true class's probability clipped to [eps, 1 - eps].
    loss = float(np.mean(-np.log(np.clip(p_true, EPS, 1 - EPS))))
    brier = float(np.mean(np.square(probabilities).sum(axis=1) - 2 * p_true + 1))
    aucs, used, skipped = [], [], []
    for j, code in enumerate(classes):
        positive = truth == code
        if positive.all() or not positive.any():
            skipped.append(float(code))
            continue
        aucs.append(binary_auc(positive, scores[scored, j]))
        used.append(float(code))
    confidence, top = top_label(probabilities, classes)
    hits = (top == truth).astype(np.float64)
    return ScoreFigures(
        scored_rows=rows,
        log_loss=loss,
        brier=brier,
        roc_auc_ovr=float(np.mean(aucs)) if aucs else None,
        ece=ece_of(ece_bin(confidence), confidence, hits, rows),
        roc_auc_classes=tuple(used),
        roc_auc_skipped=tuple(skipped),
    )


def scored_classification(
    y_true: Floats, y_pred: Floats, scores: Floats, classes: Sequence[float]
) -> ScoredClassification:
    """Every figure of a classifier's rows: per-class precision, recall, F1 and support,
    accuracy, macro F1 and the confusion matrix over every row (with the unknown-class rows
    counted against the score classes when any row has scores), and the score figures over
    the rows that have scores. Labels are float codes (`wire.labels`); `label_name` names them.
    """
    labels, confusion = confusion_of(y_true, y_pred)
    figures = score_figures(y_true, scores, classes)
    known = classes if figures.scored_rows else None
    return ScoredClassification(
        class_figures([float(x) for x in labels], confusion, known), figures
    )
