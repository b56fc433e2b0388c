"""Running figures over records that are not kept: the `all` window and a busy time window's
folded slices (sums, a confusion matrix, a `LogHistogram` of absolute errors)."""

from __future__ import annotations

import math
from typing import TypeAlias

import numpy as np

from mlmon.arrays import Floats
from mlmon.monitoring.quality.figures import (
    MAPE_EPS,
    NO_REGRESSION,
    QUANTILES,
    ClassificationFigures,
    Mode,
    RegressionFigures,
    confusion_of,
    from_confusion,
)
from mlmon.monitoring.quality.moments import Sum, merged_moments
from mlmon.monitoring.quality.sketch import LogHistogram


class RunningRegression:
    """The `all` window for regression: running sums, y_true's spread and error quantiles."""

    def __init__(self) -> None:
        self.count = 0
        self._error = Sum()
        self._absolute = Sum()
        self._squares = Sum()
        self._relative = Sum()
        self._relative_count = 0
        # Mean and sum of squared deviations of y_true (Welford; Chan et al. per batch).
        self._mean = 0.0
        self._deviations = 0.0
        self._min_true = math.inf
        self._max_true = -math.inf
        self._sketch = LogHistogram()

    def add(self, y_true: float, y_pred: float) -> None:
        error = y_pred - y_true
        absolute = abs(error)
        self.count += 1
        self._error.add(error)
        self._absolute.add(absolute)
        self._squares.add(error * error)
        if abs(y_true) >= MAPE_EPS:
            self._relative.add(absolute / abs(y_true))
            self._relative_count += 1
        delta = y_true - self._mean
        self._mean += delta / self.count
        self._deviations += delta * (y_true - self._mean)
        self._min_true = min(self._min_true, y_true)
        self._max_true = max(self._max_true, y_true)
        self._sketch.add(absolute)

    def extend(self, y_true: Floats, y_pred: Floats) -> None:
        error = y_pred - y_true
        absolute = np.abs(error)
        denominator = np.abs(y_true)
        kept = denominator >= MAPE_EPS
        self._error.add(float(error.sum()))
        self._absolute.add(float(absolute.sum()))
        self._squares.add(float(np.dot(error, error)))
        self._relative.add(float((absolute[kept] / denominator[kept]).sum()))
        self._relative_count += int(np.count_nonzero(kept))
        size = y_true.size
        mean = float(y_true.mean())
        centred = y_true - mean
        self._mean, self._deviations = merged_moments(
            self.count, self._mean, self._deviations, size, mean, float(np.dot(centred, centred))
        )
        self.count += size
        self._min_true = min(self._min_true, float(y_true.min()))
        self._max_true = max(self._max_true, float(y_true.max()))
        self._sketch.extend(absolute)

    def merge(self, other: RunningRegression) -> None:
        """Fold in another's records (Chan et al.'s pairwise update for the variance)."""
        if other.count == 0:
            return
        self._error.add(other._error.value)
        self._absolute.add(other._absolute.value)
        self._squares.add(other._squares.value)
        self._relative.add(other._relative.value)
        self._relative_count += other._relative_count
        self._mean, self._deviations = merged_moments(
            self.count, self._mean, self._deviations, other.count, other._mean, other._deviations
        )
        self.count += other.count
        self._min_true = min(self._min_true, other._min_true)
        self._max_true = max(self._max_true, other._max_true)
        self._sketch.merge(other._sketch)

    def figures(self) -> RegressionFigures:
        if self.count == 0:
            return NO_REGRESSION
        n = self.count
        squares = self._squares.value
        r2 = None
        if n >= 2 and self._min_true != self._max_true and self._deviations > 0:
            r2 = 1 - squares / self._deviations
        quantiles = self._sketch.quantiles(QUANTILES) or [math.nan] * 3
        return RegressionFigures(
            count=n,
            mae=self._absolute.value / n,
            rmse=math.sqrt(max(squares, 0.0) / n),
            mape=self._relative.value / self._relative_count if self._relative_count else None,
            mape_skipped=n - self._relative_count,
            r2=r2,
            bias=self._error.value / n,
            max_abs_error=self._sketch.max,
            abs_error_p50=quantiles[0],
            abs_error_p90=quantiles[1],
            abs_error_p99=quantiles[2],
        )


class RunningClassification:
    """The `all` window for classification: a running confusion matrix."""

    def __init__(self) -> None:
        self._cells: dict[tuple[float, float], int] = {}

    def add(self, y_true: float, y_pred: float) -> None:
        key = (y_true, y_pred)
        self._cells[key] = self._cells.get(key, 0) + 1

    def extend(self, y_true: Floats, y_pred: Floats) -> None:
        labels, confusion = confusion_of(y_true, y_pred)
        for i, j in zip(*np.nonzero(confusion), strict=True):
            key = (float(labels[i]), float(labels[j]))
            self._cells[key] = self._cells.get(key, 0) + int(confusion[i, j])

    def merge(self, other: RunningClassification) -> None:
        for key, count in other._cells.items():
            self._cells[key] = self._cells.get(key, 0) + count

    def figures(self) -> ClassificationFigures:
        labels = sorted({label for cell in self._cells for label in cell})
        where = {label: i for i, label in enumerate(labels)}
        confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
        for (true, pred), count in self._cells.items():
            confusion[where[true], where[pred]] = count
        return from_confusion(tuple(labels), confusion)


Running: TypeAlias = RunningRegression | RunningClassification


def running_for(mode: Mode) -> Running:
    return RunningRegression() if mode == "regression" else RunningClassification()
