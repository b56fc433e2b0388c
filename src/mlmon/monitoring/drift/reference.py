"""What the stream is compared with: per numeric column PSI bins, a sorted sample for KS and
the range; per categorical column its categories' counts (categories.py). Saved and loaded as
plain JSON tagged "mlmon.drift.reference" (so a reference file is safe to load); version 1
files (numbers only, no range) still load."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.monitoring.drift.categories import CategoryReference

PREDICTION = "prediction"
MAX_SORTED = 10_000  # reference values kept per column for KS: bounds memory and report() time
_FORMAT = "mlmon.drift.reference"
_VERSION = 2
_READS = (1, 2)  # version 1: no categorical columns, no range (the sorted sample's ends)


@dataclass(frozen=True, slots=True, eq=False)
class ColumnReference:
    """One column of the reference: PSI bins and a sorted sample for KS."""

    name: str
    edges: Floats  # inner cut points; bins (-inf, e0], (e0, e1], ..., (e_last, +inf)
    counts: npt.NDArray[np.int64]  # reference values per bin, len(edges) + 1, none empty
    sorted_values: Floats  # ascending; at most MAX_SORTED, evenly spread order statistics
    low: float  # the reference's smallest and largest values: the range data quality checks
    high: float

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
        sample = spread_sample(ordered, MAX_SORTED)
        return cls(
            name, edges, counts.astype(np.int64), sample, float(ordered[0]), float(ordered[-1])
        )

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
            "low": self.low,
            "high": self.high,
        }

    @classmethod
    def from_dict(cls, raw: Any) -> ColumnReference:
        """A column back from `to_dict()`, checked so that a damaged file fails here."""
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            msg = "reference column must be an object with a string 'name'"
            raise ValueError(msg)
        name = raw["name"]
        edges = float_array(raw.get("edges"), f"{name}.edges")
        sorted_values = float_array(raw.get("sorted_values"), f"{name}.sorted_values")
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
        # Version 1 kept no range: the sample's ends are the closest it has.
        low, high = float_array(
            [raw.get("low", sorted_values[0]), raw.get("high", sorted_values[-1])],
            f"{name}.low/high",
        )
        if not low <= sorted_values[0] <= sorted_values[-1] <= high:
            msg = f"reference column {name!r}: 'low' and 'high' must bound 'sorted_values'"
            raise ValueError(msg)
        return cls(name, edges, counts, sorted_values, float(low), float(high))


@dataclass(frozen=True, slots=True, eq=False)
class Reference:
    """What the stream is compared with: one `ColumnReference` per numeric feature and for
    predictions, one `CategoryReference` per categorical feature."""

    features: tuple[ColumnReference, ...]
    prediction: ColumnReference | None
    bins: int
    categorical: tuple[CategoryReference, ...] = ()

    @classmethod
    def from_data(
        cls,
        features: npt.ArrayLike,
        names: Sequence[str],
        predictions: npt.ArrayLike | None = None,
        bins: int = 10,
        categorical: Mapping[str, npt.ArrayLike] | None = None,
    ) -> Reference:
        """The reference of a (rows, features) matrix of numbers, optionally the model's
        predictions, and categorical columns by name (text, None where missing)."""
        matrix = np.asarray(features, dtype=np.float64)
        categorical = categorical or {}
        if matrix.ndim != 2 or (matrix.shape[0] == 0 and not categorical):
            msg = f"reference features must be a non-empty (rows, features) array: {matrix.shape}"
            raise ValueError(msg)
        every = [*names, *categorical]
        if len(names) != matrix.shape[1] or len(set(every)) != len(every):
            msg = f"need {matrix.shape[1]} numeric and distinct feature names, got {every}"
            raise ValueError(msg)
        if bins < 2:
            msg = f"bins must be at least 2, got {bins}"
            raise ValueError(msg)
        columns = tuple(
            ColumnReference.from_values(name, matrix[:, j], bins) for j, name in enumerate(names)
        )
        prediction = None
        if predictions is not None:
            if PREDICTION in every:
                msg = f"a feature is named {PREDICTION!r}, the name kept for predictions"
                raise ValueError(msg)
            values = np.asarray(predictions, dtype=np.float64).ravel()
            if values.size != matrix.shape[0]:
                msg = f"{values.size} reference predictions for {matrix.shape[0]} rows"
                raise ValueError(msg)
            prediction = ColumnReference.from_values(PREDICTION, values, bins)
        categories = tuple(
            CategoryReference.from_values(name, values) for name, values in categorical.items()
        )
        return cls(columns, prediction, bins, categories)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The numeric features' names."""
        return tuple(column.name for column in self.features)

    @property
    def categorical_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.categorical)

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
                "categorical": [column.to_dict() for column in self.categorical],
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
        if raw.get("version") not in _READS:
            msg = f"drift reference version {raw.get('version')!r}, this mlmon reads {_READS}"
            raise ValueError(msg)
        bins, features = raw.get("bins"), raw.get("features")
        categorical = raw.get("categorical", [])
        if (
            not isinstance(bins, int)
            or bins < 2
            or not isinstance(features, list)
            or not isinstance(categorical, list)
            or not features + categorical
        ):
            msg = (
                "drift reference needs 'bins' (an integer >= 2) and a 'features' and "
                "'categorical' list, not both empty"
            )
            raise ValueError(msg)
        columns = tuple(ColumnReference.from_dict(column) for column in features)
        categories = tuple(CategoryReference.from_dict(column) for column in categorical)
        names = [*(c.name for c in columns), *(c.name for c in categories)]
        if len(set(names)) != len(names):
            msg = f"drift reference names a column twice: {names}"
            raise ValueError(msg)
        prediction = raw.get("prediction")
        return cls(
            columns,
            None if prediction is None else ColumnReference.from_dict(prediction),
            bins,
            categories,
        )


def spread_sample(ordered: Floats, cap: int) -> Floats:
    """At most `cap` order statistics, evenly spread, so the sample's CDF stays within 1/cap."""
    if ordered.size <= cap:
        return ordered
    return ordered[((np.arange(cap) + 0.5) * ordered.size / cap).astype(np.int64)]


def float_array(raw: Any, field: str) -> Floats:
    if not isinstance(raw, list) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in raw
    ):
        msg = f"drift reference field {field!r} must be a list of finite numbers"
        raise ValueError(msg)
    return np.asarray(raw, dtype=np.float64)
