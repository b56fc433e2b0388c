"""`LogHistogram`: streaming quantiles of non-negative values in fixed memory, within a bound."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mlmon.arrays import Floats

SKETCH_RELATIVE_ERROR = 0.005
SKETCH_LOW = 1e-9  # positive values below this read as SKETCH_LOW / 2
SKETCH_HIGH = 1e15  # values from here up read as the largest value seen


class LogHistogram:
    """Counts of non-negative values in log-spaced bins: streaming quantiles in fixed memory.

    Bound: if every value is 0 or in [SKETCH_LOW, SKETCH_HIGH), `quantiles(qs)` is within
    a = SKETCH_RELATIVE_ERROR (0.5 %) relative of `numpy.quantile(values, qs)` (its default,
    linear method). A bin spans [b, b * g) with g = (1 + a) / (1 - a) and reads as
    2 * b * g / (g + 1), which is within a of every value in it; numpy interpolates between two
    order statistics and so do we, between their bins' readings, which keeps the bound. Readings
    are clamped to the exact minimum and maximum, which q = 0 and q = 1 give exactly; zeros are
    exact too. Values in (0, SKETCH_LOW) read as SKETCH_LOW / 2 (absolute error below that),
    values of SKETCH_HIGH or more as the largest value seen. About 5,500 bins of 8 bytes each,
    whatever the count.
    """

    _gamma = (1 + SKETCH_RELATIVE_ERROR) / (1 - SKETCH_RELATIVE_ERROR)
    _log_gamma = math.log(_gamma)
    _log_low = math.log(SKETCH_LOW)
    _log_bins = math.ceil((math.log(SKETCH_HIGH) - _log_low) / _log_gamma)
    # Bin 0 holds exact zeros, 1 values below SKETCH_LOW, 2.. the log bins, the last the rest.
    _overflow = _log_bins + 2
    _readings = np.concatenate(
        [
            [0.0, SKETCH_LOW / 2],
            np.exp(_log_low + np.arange(1, _log_bins + 1) * _log_gamma) * 2 / (_gamma + 1),
            [SKETCH_HIGH],
        ]
    )

    def __init__(self) -> None:
        self._counts = np.zeros(self._overflow + 1, dtype=np.int64)
        self.count = 0
        self.min = math.inf
        self.max = -math.inf

    def __repr__(self) -> str:
        return f"LogHistogram(count={self.count}, min={self.min}, max={self.max})"

    def add(self, value: float) -> None:
        """Count one value (>= 0)."""
        if value == 0:
            index = 0
        elif value < SKETCH_LOW:
            index = 1
        elif value >= SKETCH_HIGH:
            index = self._overflow
        else:
            scaled = int((math.log(value) - self._log_low) / self._log_gamma)
            index = 2 + min(scaled, self._log_bins - 1)
        self._counts[index] += 1
        self.count += 1
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def extend(self, values: Floats) -> None:
        """Count many values (>= 0) at once."""
        if values.size == 0:
            return
        clipped = np.clip(values, SKETCH_LOW, SKETCH_HIGH)
        scaled = ((np.log(clipped) - self._log_low) / self._log_gamma).astype(np.intp)
        index = 2 + np.minimum(scaled, self._log_bins - 1)
        index = np.where(values < SKETCH_LOW, np.where(values == 0, 0, 1), index)
        index = np.where(values >= SKETCH_HIGH, self._overflow, index)
        self._counts += np.bincount(index, minlength=self._counts.size)
        self.count += values.size
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))

    def merge(self, other: LogHistogram) -> None:
        self._counts += other._counts
        self.count += other.count
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def quantiles(self, qs: Sequence[float]) -> list[float] | None:
        """Estimates of numpy.quantile(values, qs) within the bound above; None when empty."""
        if self.count == 0:
            return None
        cumulative = np.cumsum(self._counts)
        readings = self._readings.copy()
        readings[self._overflow] = self.max

        def at_rank(rank: int) -> float:
            # The smallest and largest values are known exactly.
            if rank == 0:
                return self.min
            if rank == self.count - 1:
                return self.max
            reading = float(readings[np.searchsorted(cumulative, rank, side="right")])
            return min(max(reading, self.min), self.max)

        answers = []
        for q in qs:
            position = (self.count - 1) * q
            rank = math.floor(position)
            low = at_rank(rank)
            high = at_rank(min(rank + 1, self.count - 1))
            answers.append(low + (position - rank) * (high - low))
        return answers
