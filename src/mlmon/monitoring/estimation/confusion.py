"""The expected confusion matrix of unlabelled rows, and the figures estimated from it.

Row i predicted as class j adds its calibrated probability of each class t to cell (t, j):
the matrix is what the confusion matrix would be on average over the labels the calibrated
probabilities describe (NannyML's CBPE reconstructs it so). The sums are additive: the matrix of
a set of rows is the sum of its parts' matrices, so a window or a time bucket merges them, and
its figures do not depend on how its rows were chunked.

Figures are ratios of expected counts, as NannyML estimates them: accuracy = trace / rows;
per class, precision = TP / predicted, recall = TP / expected true, F1 = 2 TP / (predicted +
expected true), 0 where the denominator is (scikit-learn's zero_division=0); macro figures are
means over every reference class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.errors import EstimationError


@dataclass(frozen=True)
class ClassificationEstimate:
    """Estimated figures of a set of unlabelled rows; None where undefined (no rows; an AUC
    no class has)."""

    rows: int
    accuracy: float | None
    precision: float | None  # macro
    recall: float | None  # macro
    f1: float | None  # macro
    roc_auc: float | None = None  # one-vs-rest macro; binary: of the second class


def _ratio(numerator: Floats, denominator: Floats) -> Floats:
    result: Floats = np.divide(
        numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0
    )
    return result


@dataclass(frozen=True)
class ExpectedConfusion:
    """Expected counts: `matrix[t, j]` is the expected number of rows of true class t
    predicted as class j, over `classes` (labels in the estimator's order)."""

    classes: tuple[float, ...]
    matrix: Floats
    rows: int

    @classmethod
    def of(
        cls,
        classes: tuple[float, ...],
        predicted: npt.NDArray[np.intp],
        probabilities: Floats,
    ) -> ExpectedConfusion:
        """The matrix of rows predicted as column `predicted` with calibrated
        `probabilities` (rows x classes)."""
        k = len(classes)
        matrix = np.vstack(
            [np.bincount(predicted, weights=probabilities[:, t], minlength=k) for t in range(k)]
        ).astype(np.float64)
        return cls(classes, matrix, len(predicted))

    @classmethod
    def empty(cls, classes: tuple[float, ...]) -> ExpectedConfusion:
        return cls(classes, np.zeros((len(classes), len(classes))), 0)

    def __add__(self, other: ExpectedConfusion) -> ExpectedConfusion:
        if other.classes != self.classes:
            raise EstimationError("cannot add expected confusion matrices of different classes")
        return ExpectedConfusion(self.classes, self.matrix + other.matrix, self.rows + other.rows)

    def estimate(self, roc_auc: float | None = None) -> ClassificationEstimate:
        """The figures these expected counts give (`roc_auc` is not additive: pass the one of
        the same rows, from `estimated_roc_auc`)."""
        if self.rows == 0:
            return ClassificationEstimate(0, None, None, None, None, roc_auc)
        hits = np.diag(self.matrix)
        predicted = self.matrix.sum(axis=0)
        expected_true = self.matrix.sum(axis=1)
        return ClassificationEstimate(
            rows=self.rows,
            accuracy=float(hits.sum() / self.rows),
            precision=float(_ratio(hits, predicted).mean()),
            recall=float(_ratio(hits, expected_true).mean()),
            f1=float(_ratio(2.0 * hits, predicted + expected_true).mean()),
            roc_auc=roc_auc,
        )
