"""Confidence-based performance estimation (CBPE) of a classifier: its figures on rows whose
labels have not come yet, from the scores it gave them.

Fitted on a labelled reference, `ConfidenceEstimator` calibrates the scores (`calibration`);
on unlabelled rows it sums the expected confusion matrix (`confusion`, additive) and estimates
the ROC AUC (`roc_auc`, per set of rows). It assumes what NannyML's CBPE assumes: the
calibration learnt on the reference still holds, i.e. P(true class | scores) has not changed
(covariate shift only). A shift in the scores' distribution is followed; a change of concept
(the same scores now meaning another class) is not, and only labels show it.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> scores = rng.dirichlet([1.0, 1.0], size=2000)
    >>> y_true = (rng.random(2000) < scores[:, 1]).astype(float)
    >>> estimator = ConfidenceEstimator.fit(y_true, scores.argmax(axis=1), scores, (0.0, 1.0))
    >>> chunk = rng.dirichlet([1.0, 1.0], size=1000)
    >>> estimate = estimator.estimate(chunk.argmax(axis=1), chunk, (0.0, 1.0))
    >>> round(estimate.accuracy, 2), round(estimate.roc_auc, 2)  # in truth 0.75 and 0.83
    (0.74, 0.83)

References: NannyML, "Confidence-based Performance Estimation (CBPE)",
https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.errors import EstimationError
from mlmon.monitoring.estimation.calibration import ScoreCalibrator
from mlmon.monitoring.estimation.checks import (
    column,
    distinct_classes,
    enough_reference,
    known_positions,
    positions,
    score_matrix,
)
from mlmon.monitoring.estimation.confusion import ClassificationEstimate, ExpectedConfusion
from mlmon.monitoring.estimation.roc_auc import estimated_roc_auc
from mlmon.monitoring.quality.classes import label_name


def _names(labels: Sequence[float]) -> list[str]:
    return [label_name(c) for c in labels]


class ConfidenceEstimator:
    """A classifier's estimated figures on unlabelled rows; see the module."""

    def __init__(self, classes: tuple[float, ...], calibrator: ScoreCalibrator) -> None:
        self.classes = classes
        self._calibrator = calibrator

    @classmethod
    def fit(
        cls,
        y_true: npt.ArrayLike,
        y_pred: npt.ArrayLike,
        scores: npt.ArrayLike,
        classes: Sequence[float],
    ) -> ConfidenceEstimator:
        """Calibrate on a labelled reference: per row its true label, prediction and scores
        (rows x `classes`, label codes as `wire.labels` makes them). Calibration learns from
        the scores and the true labels; the predictions are only checked."""
        labels = distinct_classes(classes)
        truth = column(y_true, "the reference's true labels")
        enough_reference(len(truth))
        column(y_pred, "the reference's predictions", len(truth))
        matrix = score_matrix(scores, labels, len(truth))
        true_columns = positions(truth, labels)
        seen = np.unique(true_columns[true_columns >= 0])
        if not len(seen):
            raise EstimationError(
                f"no classes in common: the reference's true labels "
                f"{_names(np.unique(truth)[:20].tolist())} are none of the scores' classes "
                f"{_names(labels)}"
            )
        if len(seen) < 2:
            raise EstimationError(
                f"the reference's true labels hold one class of the scores' "
                f"({label_name(labels[int(seen[0])])}); calibrating needs at least two"
            )
        return cls(labels, ScoreCalibrator(matrix, true_columns.astype(np.float64)))

    def _aligned(self, scores: npt.ArrayLike, classes: Sequence[float], rows: int) -> Floats:
        """`scores` with its columns in the reference's class order."""
        labels = tuple(float(c) for c in classes)
        matrix = score_matrix(scores, labels, rows)
        if labels == self.classes:
            return matrix
        if not set(labels) & set(self.classes):
            raise EstimationError(
                f"no classes in common: the scores name {_names(labels)}, the reference "
                f"{_names(self.classes)}"
            )
        missing = [c for c in self.classes if c not in labels]
        extra = [c for c in labels if c not in self.classes]
        if missing or extra:
            raise EstimationError(
                f"the scores' classes differ from the reference's: missing {_names(missing)}, "
                f"not in the reference {_names(extra)}"
            )
        order = [labels.index(c) for c in self.classes]
        aligned: Floats = matrix[:, order]
        return aligned

    def _rows(
        self, y_pred: npt.ArrayLike, scores: npt.ArrayLike, classes: Sequence[float]
    ) -> tuple[npt.NDArray[np.intp], Floats, Floats]:
        """Each row's predicted column, its scores and its calibrated probabilities, both in
        the reference's class order."""
        predicted = column(y_pred, "predictions")
        matrix = self._aligned(scores, classes, len(predicted))
        where = known_positions(predicted, self.classes, "predictions")
        return where, matrix, self._calibrator(matrix)

    def calibrated(self, scores: npt.ArrayLike, classes: Sequence[float]) -> tuple[Floats, Floats]:
        """Rows' scores in the reference's class order, and their calibrated probabilities."""
        matrix = self._aligned(scores, classes, len(np.asarray(scores)))
        return matrix, self._calibrator(matrix)

    def confusion(
        self, y_pred: npt.ArrayLike, scores: npt.ArrayLike, classes: Sequence[float]
    ) -> ExpectedConfusion:
        """The expected confusion matrix of unlabelled rows (additive over rows)."""
        where, _, probabilities = self._rows(y_pred, scores, classes)
        return ExpectedConfusion.of(self.classes, where, probabilities)

    def estimate(
        self, y_pred: npt.ArrayLike, scores: npt.ArrayLike, classes: Sequence[float]
    ) -> ClassificationEstimate:
        """Estimated accuracy, macro precision / recall / F1 and ROC AUC of these rows."""
        where, matrix, probabilities = self._rows(y_pred, scores, classes)
        confusion = ExpectedConfusion.of(self.classes, where, probabilities)
        return confusion.estimate(estimated_roc_auc(matrix, probabilities) if len(where) else None)
