"""A classifier's score figures (log loss, Brier, one-vs-rest ROC AUC, ECE) summed block by
block, in memory that does not grow with the log: `ScoreSums`, the streaming form of
`monitoring.quality.scores.score_figures`, with the same conventions (see that module).

Per model it keeps the rows, the log loss and Brier sums, the ECE's 15 bins, the scored rows
per true label, and per score class (at most AUC_CLASSES of them) two histograms of that
class's probability in AUC_BINS bins of 1e-4: over every scored row, and over the rows of that
class. The AUC comes from those: exact when every probability is a multiple of 1e-4 (scores
written with at most four decimals), else the pairs of a positive and a negative row in one
bin count as ties (half), which moves a class's AUC by at most half the share of such pairs:
about 1e-4 for probabilities spread over [0, 1]. That is 160 kB per class, 10 MB at most
per model, whatever the log's length (the exact figure would need every row's scores; a
bounded sample would be off by ~1/sqrt(sample) instead).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.metric_log.cells import ScoreMatrix
from mlmon.monitoring.quality.moments import Sum
from mlmon.monitoring.quality.scores import (
    ECE_BINS,
    EPS,
    NO_SCORES,
    ScoreFigures,
    ece_bin,
    normalized,
    top_label,
    true_probability,
)

AUC_RESOLUTION = 10_000  # histogram bins per unit of probability
AUC_BINS = AUC_RESOLUTION + 1  # a probability p goes to bin round(p * AUC_RESOLUTION)
AUC_CLASSES = 64  # score classes with an AUC; later ones are skipped (and said so)

Counts = npt.NDArray[np.int64]


class ScoreSums:
    """One model's score figures over every scored row it was given (see the module)."""

    def __init__(self) -> None:
        self.rows = 0  # scored rows
        self.classes: list[float] = []  # score classes, in order of first appearance
        self._log_loss = Sum()
        self._brier = Sum()
        self._ece_count = np.zeros(ECE_BINS, dtype=np.int64)
        self._ece_confidence = np.zeros(ECE_BINS)
        self._ece_hits = np.zeros(ECE_BINS, dtype=np.int64)
        self._support: dict[float, int] = {}  # scored rows per true label
        self._every: list[Counts] = []  # per AUC class: its probability over every scored row
        self._own: list[Counts] = []  # per AUC class: over the rows of that class

    def __repr__(self) -> str:
        return f"ScoreSums(rows={self.rows}, classes={len(self.classes)}, nbytes={self.nbytes})"

    @property
    def nbytes(self) -> int:
        return sum(h.nbytes for h in self._every) + sum(h.nbytes for h in self._own)

    def add(self, y_true: Floats, scores: ScoreMatrix) -> None:
        """Take a block of this model's rows: true labels (codes) and their scores; rows
        without scores are left out."""
        scored = scores.scored()
        if not scored.any():
            return
        classes = scores.classes
        probabilities = normalized(scores.values[scored])
        truth = y_true[scored]
        self._new_classes(classes)
        p_true = true_probability(probabilities, classes, truth)
        self._log_loss.add(float(-np.log(np.clip(p_true, EPS, 1 - EPS)).sum()))
        self._brier.add(float((np.square(probabilities).sum(axis=1) - 2 * p_true + 1).sum()))
        confidence, top = top_label(probabilities, classes)
        bins = ece_bin(confidence)
        self._ece_count += np.bincount(bins, minlength=ECE_BINS)
        self._ece_confidence += np.bincount(bins, weights=confidence, minlength=ECE_BINS)
        self._ece_hits += np.bincount(bins[top == truth], minlength=ECE_BINS)
        self._add_histograms(scores.values[scored], classes, truth)
        labels, counts = np.unique(truth, return_counts=True)
        for label, count in zip(labels.tolist(), counts.tolist(), strict=True):
            self._support[label] = self._support.get(label, 0) + count
        self.rows += len(truth)

    def _new_classes(self, classes: tuple[float, ...]) -> None:
        """Classes not seen before; the rows before had probability 0 for them (bin 0)."""
        for code in classes:
            if code in self.classes:
                continue
            self.classes.append(code)
            if len(self._every) < AUC_CLASSES:
                every, own = np.zeros(AUC_BINS, np.int64), np.zeros(AUC_BINS, np.int64)
                every[0], own[0] = self.rows, self._support.get(code, 0)
                self._every.append(every)
                self._own.append(own)

    def _add_histograms(self, written: Floats, classes: tuple[float, ...], truth: Floats) -> None:
        """The scores as written (not divided by their sum), as the AUC ranks them."""
        where = {code: j for j, code in enumerate(classes)}
        for k, code in enumerate(self.classes[: len(self._every)]):
            own = truth == code
            j = where.get(code)
            if j is None:  # not among this block's classes: probability 0 on all its rows
                self._every[k][0] += len(truth)
                self._own[k][0] += int(np.count_nonzero(own))
                continue
            bins = np.rint(np.clip(written[:, j], 0.0, 1.0) * AUC_RESOLUTION).astype(np.intp)
            self._every[k] += np.bincount(bins, minlength=AUC_BINS)
            self._own[k] += np.bincount(bins[own], minlength=AUC_BINS)

    def figures(self) -> ScoreFigures:
        if not self.rows:
            return NO_SCORES
        aucs, used, skipped = [], [], []
        for k, code in enumerate(self.classes):
            auc = _auc(self._own[k], self._every[k] - self._own[k]) if k < AUC_CLASSES else None
            if auc is None:
                skipped.append(code)
            else:
                aucs.append(auc)
                used.append(code)
        ece = np.abs(self._ece_hits - self._ece_confidence).sum() / self.rows
        return ScoreFigures(
            scored_rows=self.rows,
            log_loss=self._log_loss.value / self.rows,
            brier=self._brier.value / self.rows,
            roc_auc_ovr=float(np.mean(aucs)) if aucs else None,
            ece=float(ece),
            roc_auc_classes=tuple(used),
            roc_auc_skipped=tuple(skipped),
        )


def _auc(positives: Counts, negatives: Counts) -> float | None:
    """The Mann-Whitney AUC of two histograms over the same bins (a tie counts half); None
    without both positives and negatives."""
    p, n = int(positives.sum()), int(negatives.sum())
    if p == 0 or n == 0:
        return None
    # In floats: the products of counts may pass what an int64 holds on a long log.
    pos, neg = positives.astype(np.float64), negatives.astype(np.float64)
    below = np.cumsum(neg) - neg  # negatives in lower bins
    pairs = float(np.dot(pos, below)) + 0.5 * float(np.dot(pos, neg))
    return pairs / (float(p) * float(n))
