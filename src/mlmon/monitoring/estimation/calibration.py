"""Scores made probabilities: isotonic regression fitted on a labelled reference, one class
against the rest, as NannyML's CBPE calibrates them.

Two classes: one isotonic map of the second class's score to the probability that it is the
true one; the first class gets the complement. More classes: one map per class, each fitted
on "the true label is this class", then each row divided by its sum so the probabilities add
to 1. A row every map sends to 0 (scores below anything seen with a hit) keeps its scores,
divided by their sum: the normalisation is written here because scikit-learn's
`CalibratedClassifierCV` needs the classifier itself, which the monitor never holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sklearn.isotonic import IsotonicRegression

from mlmon.arrays import Floats


def _isotonic(score: Floats, hit: Floats) -> IsotonicRegression:
    # scikit-learn (with scipy and pandas) is imported when a reference is fitted, not by every
    # process that only sums estimates (the plot service, the dashboard)
    from sklearn.isotonic import IsotonicRegression

    # clip: a score outside the reference's range gets the nearest calibrated value
    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, hit)


class ScoreCalibrator:
    """Isotonic maps from each class's score to the probability that it is the true class."""

    def __init__(self, scores: Floats, true_columns: Floats) -> None:
        """Fit on a reference's rows x classes `scores` and, per row, the column of its true
        class (-1 for a true label the scores do not name: a miss for every class)."""
        self.classes = scores.shape[1]
        columns = [self.classes - 1] if self.classes == 2 else range(self.classes)
        self._maps = [
            (j, _isotonic(scores[:, j], (true_columns == j).astype(np.float64))) for j in columns
        ]

    def __call__(self, scores: Floats) -> Floats:
        """Calibrated probabilities of rows x classes `scores` (columns in fitting order)."""
        if not len(scores):  # scikit-learn refuses to predict no rows
            return np.empty_like(scores)
        if self.classes == 2:
            j, isotonic = self._maps[0]
            positive = np.asarray(isotonic.predict(scores[:, j]), dtype=np.float64)
            return np.column_stack([1.0 - positive, positive])
        calibrated = np.column_stack([isotonic.predict(scores[:, j]) for j, isotonic in self._maps])
        totals = calibrated.sum(axis=1, keepdims=True)
        lost = totals[:, 0] <= 0.0
        if bool(lost.any()):
            raw = scores[lost]
            raw_totals = raw.sum(axis=1, keepdims=True)
            calibrated[lost] = np.where(raw_totals > 0, raw, 1.0)
            totals[lost] = np.where(raw_totals > 0, raw_totals, self.classes)
        result: Floats = calibrated / totals
        return result
