"""Data and prediction drift: the last rows of the stream compared with a reference sample.

A `Reference` summarises, per feature and for the model's predictions, the data the model was
trained or validated on: quantile bin edges and proportions for the Population Stability Index
(PSI), and a sorted sample for the two-sample Kolmogorov-Smirnov (KS) test. It is plain JSON, so
a reference file is safe to load. A `DriftMonitor` keeps the last `window` rows in a ring buffer
and, on demand, reports both statistics per column and which columns drifted. No I/O, no clock.

PSI sees shifts in mass between bins and is robust to sample size; KS sees any difference in
distribution and comes with a p-value. A column is flagged when either crosses its threshold,
and only once it holds `min_rows` values: before that both statistics are mostly noise.
Missing values (NaN) are left out of every statistic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats

PREDICTION = "prediction"
MAX_SORTED = 10_000  # reference values kept per column for KS: bounds memory and report() time
PSI_EPS = 1e-4
_FORMAT = "mlmon.drift.reference"
_VERSION = 1


def psi(expected_props: npt.ArrayLike, actual_props: npt.ArrayLike, eps: float = PSI_EPS) -> float:
    """Population Stability Index: sum((a - e) * ln(a / e)) over bins."""
    # A bin empty on one side (a stream shifted past it) would make ln(a / e) infinite and the
    # PSI infinite whatever the rest of the bins say; clipping at eps caps each such bin's part
    # at about |p| * ln(p / eps), so a bigger shift still gives a bigger, finite, comparable PSI.
    expected = np.maximum(np.asarray(expected_props, dtype=np.float64), eps)
    actual = np.maximum(np.asarray(actual_props, dtype=np.float64), eps)
    if expected.shape != actual.shape or expected.ndim != 1:
        msg = f"psi needs two 1-D proportions of one length, got {expected.shape}, {actual.shape}"
        raise ValueError(msg)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def ks(reference_sorted: npt.ArrayLike, window_values: npt.ArrayLike) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and two-sided asymptotic p-value."""
    reference = np.asarray(reference_sorted, dtype=np.float64)
    window = np.sort(np.asarray(window_values, dtype=np.float64))
    n1, n2 = reference.size, window.size
    if n1 == 0 or n2 == 0:
        msg = f"ks needs two non-empty samples, got sizes {n1} and {n2}"
        raise ValueError(msg)
    # As scipy.stats.ks_2samp does: both empirical CDFs at every point of either sample
    # (side="right" counts ties on both sides alike), so the statistic agrees with it exactly.
    both = np.concatenate([reference, window])
    gap = (
        np.searchsorted(reference, both, side="right") / n1
        - np.searchsorted(window, both, side="right") / n2
    )
    statistic = max(float(np.clip(-gap.min(), 0.0, 1.0)), float(gap.max()))
    # scipy's asymptotic p-value (method="asymp"): the exact one is O(n1 * n2) per column and,
    # for some sample sizes, gives up with a RuntimeWarning. Near 0.01 they differ by a few %.
    from scipy.stats import kstwo  # here, not at the top: scipy.stats takes ~1.5 s to import

    big, small = max(n1, n2), min(n1, n2)
    # Two single values make 0.5, which scipy rounds to a sample of 0 (a NaN p-value).
    effective = max(round(big * small / (big + small)), 1)
    p_value = float(np.clip(kstwo.sf(statistic, effective), 0.0, 1.0))
    return statistic, p_value


@dataclass(frozen=True, slots=True, eq=False)
class ColumnReference:
    """One column of the reference: PSI bins and a sorted sample for KS."""

    name: str
    edges: Floats  # inner cut points; bins (-inf, e0], (e0, e1], ..., (e_last, +inf)
    counts: npt.NDArray[np.int64]  # reference values per bin, len(edges) + 1, none empty
    sorted_values: Floats  # ascending; at most MAX_SORTED, evenly spread order statistics

    def __post_init__(self) -> None:
        for array in (self.edges, self.counts, self.sorted_values):
            array.setflags(write=False)  # frozen means the arrays too

    @classmethod
    def from_values(cls, name: str, values: npt.ArrayLike, bins: int) -> ColumnReference:
        """Decile (or `bins`-quantile) edges, their counts and a sorted sample of the values."""
        data = np.asarray(values, dtype=np.float64).ravel()
        data = data[~np.isnan(data)]
        if data.size == 0:
            msg = f"reference column {name!r} has no values (all missing)"
            raise ValueError(msg)
        if not np.all(np.isfinite(data)):
            msg = f"reference column {name!r} holds an infinite value"
            raise ValueError(msg)
        ordered = np.sort(data)
        # Edges are actual values ("inverted_cdf"), so every bin (e_i, e_i+1] holds at least
        # e_i+1 itself. A discrete column repeats edges: unique() merges them, and an edge at
        # the maximum would leave the last bin empty, so it goes too.
        quantiles = np.arange(1, bins) / bins  # not linspace: its 0.30000000000000004 skews bins
        edges = np.unique(np.quantile(ordered, quantiles, method="inverted_cdf"))
        edges = edges[edges < ordered[-1]]
        counts = np.bincount(np.searchsorted(edges, ordered, side="left"), minlength=edges.size + 1)
        return cls(name, edges, counts.astype(np.int64), _spread_sample(ordered, MAX_SORTED))

    @property
    def proportions(self) -> Floats:
        """Share of the reference in each bin."""
        return self.counts.astype(np.float64) / float(self.counts.sum())

    def bin_proportions(self, values: Floats) -> Floats:
        """Share of `values` in each reference bin; outliers land in the outer bins."""
        counts = np.bincount(
            np.searchsorted(self.edges, values, side="left"), minlength=self.edges.size + 1
        )
        return counts / max(values.size, 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "edges": self.edges.tolist(),
            "counts": self.counts.tolist(),
            "sorted_values": self.sorted_values.tolist(),
        }

    @classmethod
    def from_dict(cls, raw: Any) -> ColumnReference:
        """A column back from `to_dict()`, checked so that a damaged file fails here."""
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            msg = "reference column must be an object with a string 'name'"
            raise ValueError(msg)
        name = raw["name"]
        edges = _float_array(raw.get("edges"), f"{name}.edges")
        sorted_values = _float_array(raw.get("sorted_values"), f"{name}.sorted_values")
        counts_raw = raw.get("counts")
        if not isinstance(counts_raw, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in counts_raw
        ):
            msg = f"reference column {name!r}: 'counts' must be a list of positive integers"
            raise ValueError(msg)
        counts = np.asarray(counts_raw, dtype=np.int64)
        if counts.size != edges.size + 1 or np.any(np.diff(edges) <= 0):
            msg = f"reference column {name!r}: edges must increase and number len(counts) - 1"
            raise ValueError(msg)
        if sorted_values.size == 0 or np.any(np.diff(sorted_values) < 0):
            msg = f"reference column {name!r}: 'sorted_values' must be non-empty and ascending"
            raise ValueError(msg)
        return cls(name, edges, counts, sorted_values)


@dataclass(frozen=True, slots=True, eq=False)
class Reference:
    """What the stream is compared with: one `ColumnReference` per feature and for predictions."""

    features: tuple[ColumnReference, ...]
    prediction: ColumnReference | None
    bins: int

    @classmethod
    def from_data(
        cls,
        features: npt.ArrayLike,
        names: Sequence[str],
        predictions: npt.ArrayLike | None = None,
        bins: int = 10,
    ) -> Reference:
        """The reference of a (rows, features) matrix and, optionally, the model's predictions."""
        matrix = np.asarray(features, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] == 0:
            msg = f"reference features must be a non-empty (rows, features) array: {matrix.shape}"
            raise ValueError(msg)
        if len(names) != matrix.shape[1] or len(set(names)) != len(names):
            msg = f"need {matrix.shape[1]} distinct feature names, got {list(names)}"
            raise ValueError(msg)
        if bins < 2:
            msg = f"bins must be at least 2, got {bins}"
            raise ValueError(msg)
        columns = tuple(
            ColumnReference.from_values(name, matrix[:, j], bins) for j, name in enumerate(names)
        )
        prediction = None
        if predictions is not None:
            if PREDICTION in names:
                msg = f"a feature is named {PREDICTION!r}, the name kept for predictions"
                raise ValueError(msg)
            values = np.asarray(predictions, dtype=np.float64).ravel()
            if values.size != matrix.shape[0]:
                msg = f"{values.size} reference predictions for {matrix.shape[0]} rows"
                raise ValueError(msg)
            prediction = ColumnReference.from_values(PREDICTION, values, bins)
        return cls(columns, prediction, bins)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.features)

    @property
    def columns(self) -> tuple[ColumnReference, ...]:
        """Features, then predictions when the reference has them."""
        return self.features if self.prediction is None else (*self.features, self.prediction)

    def to_json(self) -> str:
        """Plain JSON (floats written in full, so a round trip is exact)."""
        return json.dumps(
            {
                "format": _FORMAT,
                "version": _VERSION,
                "bins": self.bins,
                "features": [column.to_dict() for column in self.features],
                "prediction": None if self.prediction is None else self.prediction.to_dict(),
            },
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Reference:
        """A reference back from `to_json()`; ValueError names what is wrong with the text."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as error:
            msg = f"drift reference is not JSON: {error}"
            raise ValueError(msg) from error
        if not isinstance(raw, dict) or raw.get("format") != _FORMAT:
            msg = f"not a drift reference (expected 'format': {_FORMAT!r})"
            raise ValueError(msg)
        if raw.get("version") != _VERSION:
            msg = f"drift reference version {raw.get('version')!r}, this mlmon reads {_VERSION}"
            raise ValueError(msg)
        bins, features = raw.get("bins"), raw.get("features")
        if not isinstance(bins, int) or bins < 2 or not isinstance(features, list) or not features:
            msg = "drift reference needs 'bins' (an integer >= 2) and a non-empty 'features' list"
            raise ValueError(msg)
        columns = tuple(ColumnReference.from_dict(column) for column in features)
        prediction = raw.get("prediction")
        return cls(
            columns, None if prediction is None else ColumnReference.from_dict(prediction), bins
        )


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """One column's drift over the window; statistics are None while it holds no values."""

    name: str
    rows: int  # values in the window (missing ones left out)
    psi: float | None
    ks_statistic: float | None
    ks_pvalue: float | None
    drifted: bool
    warming_up: bool  # fewer than min_rows values: never flagged

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "psi": self.psi,
            "ks_statistic": self.ks_statistic,
            "ks_pvalue": self.ks_pvalue,
            "drifted": self.drifted,
            "warming_up": self.warming_up,
        }


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Drift of every column over the current window."""

    rows: int  # rows in the window
    min_rows: int
    psi_threshold: float
    ks_pvalue_threshold: float
    columns: tuple[ColumnDrift, ...]

    @property
    def warming_up(self) -> bool:
        return self.rows < self.min_rows

    @property
    def drifted_columns(self) -> list[str]:
        return [column.name for column in self.columns if column.drifted]

    @property
    def drifted(self) -> bool:
        return any(column.drifted for column in self.columns)

    def column(self, name: str) -> ColumnDrift:
        for column in self.columns:
            if column.name == name:
                return column
        msg = f"no column {name!r} in the drift report"
        raise KeyError(msg)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (no NaN): the thresholds, the drifted columns and each column's figures."""
        return {
            "rows": self.rows,
            "min_rows": self.min_rows,
            "warming_up": self.warming_up,
            "psi_threshold": self.psi_threshold,
            "ks_pvalue_threshold": self.ks_pvalue_threshold,
            "drifted_columns": self.drifted_columns,
            "columns": {column.name: column.to_dict() for column in self.columns},
        }


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


def _spread_sample(ordered: Floats, cap: int) -> Floats:
    """At most `cap` order statistics, evenly spread, so the sample's CDF stays within 1/cap."""
    if ordered.size <= cap:
        return ordered
    return ordered[((np.arange(cap) + 0.5) * ordered.size / cap).astype(np.int64)]


def _float_array(raw: Any, field: str) -> Floats:
    if not isinstance(raw, list) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in raw
    ):
        msg = f"drift reference field {field!r} must be a list of finite numbers"
        raise ValueError(msg)
    return np.asarray(raw, dtype=np.float64)
