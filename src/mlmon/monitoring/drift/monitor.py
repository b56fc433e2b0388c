"""`DriftMonitor`: the last `window` rows in a ring buffer, compared with a reference on demand."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.monitoring.drift.reference import ColumnReference, Reference
from mlmon.monitoring.drift.report import ColumnDrift, DriftReport
from mlmon.monitoring.drift.statistics import ks, psi


class DriftMonitor:
    """The last `window` rows of the stream, compared with a reference on demand."""

    def __init__(
        self,
        reference: Reference,
        window: int = 1000,
        psi_threshold: float = 0.2,
        ks_pvalue_threshold: float = 0.01,
        min_rows: int = 200,
    ) -> None:
        if window < 1 or not 1 <= min_rows <= window:
            msg = f"need 1 <= min_rows ({min_rows}) <= window ({window})"
            raise ValueError(msg)
        self.reference = reference
        self.window = window
        self.psi_threshold = psi_threshold
        self.ks_pvalue_threshold = ks_pvalue_threshold
        self.min_rows = min_rows
        self._features = len(reference.features)
        # One column per feature, then one for predictions (NaN where none came).
        self._buffer = np.full((window, len(reference.columns)), np.nan)
        self._next = 0  # buffer row the next stream row goes to
        self._filled = 0

    def __repr__(self) -> str:
        return (
            f"DriftMonitor(features={self._features}, window={self.window}, "
            f"rows={self._filled}, predictions={self.reference.prediction is not None})"
        )

    @property
    def rows(self) -> int:
        """Rows in the window now."""
        return self._filled

    def add(self, features: npt.ArrayLike, predictions: npt.ArrayLike | None = None) -> None:
        """Append (k, d) feature rows (or one row of d) and, optionally, their k predictions."""
        matrix = np.asarray(features, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix[np.newaxis, :]
        if matrix.ndim != 2 or matrix.shape[1] != self._features:
            msg = f"expected rows of {self._features} features, got shape {matrix.shape}"
            raise ValueError(msg)
        k = matrix.shape[0]
        block = np.full((k, self._buffer.shape[1]), np.nan)
        block[:, : self._features] = matrix
        if predictions is not None:
            if self.reference.prediction is None:
                msg = "predictions given but the reference has none to compare them with"
                raise ValueError(msg)
            values = np.asarray(predictions, dtype=np.float64).ravel()
            if values.size != k:
                msg = f"{values.size} predictions for {k} feature rows"
                raise ValueError(msg)
            block[:, self._features] = values
        if k >= self.window:
            block = block[-self.window :]
            k = self.window
        end = self._next + k
        if end <= self.window:
            self._buffer[self._next : end] = block
        else:
            split = self.window - self._next
            self._buffer[self._next :] = block[:split]
            self._buffer[: end - self.window] = block[split:]
        self._next = end % self.window
        self._filled = min(self._filled + k, self.window)

    def report(self) -> DriftReport:
        """PSI and KS of every column over the window, and which columns drifted."""
        # Until the buffer first fills, its rows 0.._filled-1 are exactly the window.
        window = self._buffer[: self._filled]
        columns = tuple(
            self._column_drift(reference, window[:, j])
            for j, reference in enumerate(self.reference.columns)
        )
        return DriftReport(
            self._filled, self.min_rows, self.psi_threshold, self.ks_pvalue_threshold, columns
        )

    def _column_drift(self, reference: ColumnReference, values: Floats) -> ColumnDrift:
        present = values[~np.isnan(values)]
        if present.size == 0:
            return ColumnDrift(reference.name, 0, None, None, None, drifted=False, warming_up=True)
        index = psi(reference.proportions, reference.bin_proportions(present))
        statistic, p_value = ks(reference.sorted_values, present)
        warming_up = present.size < self.min_rows
        drifted = not warming_up and (
            index > self.psi_threshold or p_value < self.ks_pvalue_threshold
        )
        return ColumnDrift(
            reference.name, present.size, index, statistic, p_value, drifted, warming_up
        )
