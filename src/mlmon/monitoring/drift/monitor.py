"""`DriftMonitor`: the last `window` rows in ring buffers, compared with a reference on demand."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.monitoring.drift.categories import CategoryReference, Codes
from mlmon.monitoring.drift.reference import ColumnReference, Reference
from mlmon.monitoring.drift.report import ColumnDrift, DriftReport
from mlmon.monitoring.drift.statistics import chi_square, js_distance, ks, psi
from mlmon.monitoring.ring import Ring


class DriftMonitor:
    """The last `window` rows of the stream, compared with a reference on demand."""

    def __init__(
        self,
        reference: Reference,
        window: int = 1000,
        psi_threshold: float = 0.2,
        fdr: float = 0.01,
        min_rows: int = 200,
    ) -> None:
        if window < 1 or not 1 <= min_rows <= window:
            msg = f"need 1 <= min_rows ({min_rows}) <= window ({window})"
            raise ValueError(msg)
        if not 0 < fdr < 1:
            msg = f"the false discovery rate must be in (0, 1), got {fdr}"
            raise ValueError(msg)
        self.reference = reference
        self.window = window
        self.psi_threshold = psi_threshold
        self.fdr = fdr
        self.min_rows = min_rows
        self._features = len(reference.features)
        # One column per numeric feature, then one for predictions (NaN where none came); the
        # categorical features' cell codes beside (categories.py).
        self._numbers = Ring(window, len(reference.columns), np.float64, np.nan)
        self._codes = Ring(window, len(reference.categorical), np.int64, -1)

    def __repr__(self) -> str:
        return (
            f"DriftMonitor(features={self._features}, categorical="
            f"{len(self.reference.categorical)}, window={self.window}, rows={self.rows}, "
            f"predictions={self.reference.prediction is not None})"
        )

    @property
    def rows(self) -> int:
        """Rows in the window now."""
        return len(self._numbers)

    def add(
        self,
        features: npt.ArrayLike,
        predictions: npt.ArrayLike | None = None,
        categories: Mapping[str, npt.ArrayLike] | None = None,
    ) -> None:
        """Append (k, d) numeric feature rows (or one row of d), optionally their k predictions,
        and the k values of each categorical feature by name (text; None where missing)."""
        matrix = np.asarray(features, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix[np.newaxis, :]
        if matrix.ndim != 2 or matrix.shape[1] != self._features:
            msg = f"expected rows of {self._features} features, got shape {matrix.shape}"
            raise ValueError(msg)
        k = matrix.shape[0]
        block = np.full((k, len(self.reference.columns)), np.nan)
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
        codes = self._encode(categories or {}, k)
        self._numbers.push(block)
        self._codes.push(codes)

    def _encode(self, categories: Mapping[str, npt.ArrayLike], k: int) -> Codes:
        """The categorical features' codes; a column not given is missing in every row."""
        codes = np.full((k, len(self.reference.categorical)), -1, dtype=np.int64)
        for j, column in enumerate(self.reference.categorical):
            if column.name in categories:
                values = column.codes(categories[column.name])
                if values.size != k:
                    msg = f"{values.size} values of {column.name!r} for {k} feature rows"
                    raise ValueError(msg)
                codes[:, j] = values
        return codes

    def report(self) -> DriftReport:
        """Every column's effect size and test over the window, and which columns drifted:
        those whose p-value is a Benjamini-Hochberg discovery at `fdr` among the columns
        holding at least `min_rows` values (package docstring)."""
        numbers, codes = self._numbers.rows(), self._codes.rows()
        columns = [
            self._numeric_drift(reference, numbers[:, j])
            for j, reference in enumerate(self.reference.columns)
        ] + [
            self._categorical_drift(reference, codes[:, j])
            for j, reference in enumerate(self.reference.categorical)
        ]
        tested = [i for i, column in enumerate(columns) if column.p_value is not None]
        if tested:
            from scipy.stats import false_discovery_control

            adjusted = false_discovery_control([columns[i].p_value for i in tested], method="bh")
            for i, q in zip(tested, adjusted.tolist(), strict=True):
                columns[i] = columns[i].adjusted(float(q), drifted=q <= self.fdr)
        return DriftReport(self.rows, self.min_rows, self.psi_threshold, self.fdr, tuple(columns))

    def _numeric_drift(self, reference: ColumnReference, values: Floats) -> ColumnDrift:
        present = values[~np.isnan(values)]
        if present.size == 0:
            return ColumnDrift(reference.name, "numeric", 0)
        index = psi(reference.proportions, reference.bin_proportions(present))
        statistic, p_value = ks(reference.sorted_values, present)
        warming_up = present.size < self.min_rows
        return ColumnDrift(
            reference.name,
            "numeric",
            present.size,
            psi=index,
            ks_statistic=statistic,
            ks_pvalue=p_value,
            p_value=None if warming_up else p_value,
            warming_up=warming_up,
        )

    def _categorical_drift(self, reference: CategoryReference, codes: Codes) -> ColumnDrift:
        present = codes[codes >= 0]  # categories, kept or not; gaps and numbers left out
        if present.size == 0:
            return ColumnDrift(reference.name, "categorical", 0)
        observed = np.bincount(present, minlength=reference.unseen_cell + 1)
        expected = reference.proportions()
        statistic, p_value = chi_square(np.append(reference.counts, reference.other), observed)
        warming_up = present.size < self.min_rows
        return ColumnDrift(
            reference.name,
            "categorical",
            present.size,
            chi2_statistic=statistic,
            chi2_pvalue=p_value,
            js_distance=js_distance(expected, observed),
            p_value=None if warming_up else p_value,
            warming_up=warming_up,
        )
