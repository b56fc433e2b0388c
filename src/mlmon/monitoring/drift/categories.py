"""A categorical column of the reference: its most frequent categories' counts (the rest as
one "other" count), and the codes a window's values get against them."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from mlmon.arrays import Floats

MAX_CATEGORIES = 200  # categories kept per column: bounds the file, memory and the test's cells
# Codes of values that are no category: a gap, and a number where categories are expected.
MISSING = -1
MISMATCH = -2
Codes = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class CategoryReference:
    """Counts of the reference's categories, most frequent first, and of the rest (`other`).

    A window's value codes as its category's index; as `len(categories)` ("other": a
    category outside the kept ones when the reference had more, else an unseen one); or as
    MISSING or MISMATCH."""

    name: str
    categories: tuple[str, ...]
    counts: npt.NDArray[np.int64]  # per kept category, all positive
    other: int  # reference values outside the kept categories (0: every category kept)
    # The last array coded and its codes: data quality and drift code a batch's column in
    # turn, and coding was the model service's largest share of both. Held, so its identity
    # cannot pass to another array; the batch columns handed here are never changed.
    _last: list[Any] = field(default_factory=lambda: [None, None], compare=False, repr=False)

    def __post_init__(self) -> None:
        self.counts.setflags(write=False)

    @classmethod
    def from_values(
        cls, name: str, values: npt.ArrayLike, keep: int = MAX_CATEGORIES
    ) -> CategoryReference:
        """The `keep` most frequent categories of the values (text; gaps left out)."""
        seen = Counter(str(v) for v in np.asarray(values, dtype=object).ravel() if _present(v))
        if not seen:
            msg = f"reference column {name!r} has no values (all missing)"
            raise ValueError(msg)
        # Ties broken by name, so the same data always keeps the same categories.
        ranked = sorted(seen.items(), key=lambda item: (-item[1], item[0]))
        kept = ranked[:keep]
        other = sum(count for _, count in ranked[keep:])
        counts = np.array([count for _, count in kept], dtype=np.int64)
        return cls(name, tuple(category for category, _ in kept), counts, other)

    @property
    def unseen_cell(self) -> int:
        return len(self.categories)

    @property
    def complete(self) -> bool:
        """Whether every reference category is kept, so "other" means never seen."""
        return self.other == 0

    def proportions(self) -> Floats:
        """Reference share of each cell: the kept categories, then "other"."""
        cells: Floats = np.append(self.counts, self.other).astype(np.float64)
        return cells / float(cells.sum())

    def codes(self, values: npt.ArrayLike) -> Codes:
        """Each value's cell, or MISSING (None, NaN) or MISMATCH (a number, a boolean). The
        same array object again gets the same (read-only) codes without a second pass."""
        last = self._last
        if isinstance(values, np.ndarray) and last[0] is values:
            cached: Codes = last[1]
            return cached
        found = self._codes(values)
        if isinstance(values, np.ndarray):
            found.setflags(write=False)
            last[0], last[1] = values, found
        return found

    def _codes(self, values: npt.ArrayLike) -> Codes:
        index = {category: i for i, category in enumerate(self.categories)}
        unseen = self.unseen_cell
        array = np.asarray(values)
        if array.dtype.kind in "biuf":  # numbers (NaN where missing): no category among them
            numbers = np.asarray(array, dtype=np.float64)
            return np.where(np.isnan(numbers), MISSING, MISMATCH).astype(np.int64)
        array = array.astype(object).ravel()
        try:  # texts and gaps (the usual column): each distinct text looked up once
            encoded = pa.array(array, type=pa.string(), from_pandas=True).dictionary_encode()
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a number or a boolean among them
            return np.fromiter(
                (
                    index.get(value, unseen)
                    if isinstance(value, str)
                    else (MISSING if not _present(value) else MISMATCH)
                    for value in array.tolist()
                ),
                dtype=np.int64,
                count=array.size,
            )
        texts = encoded.dictionary.to_pylist()
        lookup = np.array([*(index.get(text, unseen) for text in texts), MISSING], dtype=np.int64)
        result: Codes = lookup[encoded.indices.fill_null(len(texts)).to_numpy()]
        return result

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "categories": list(self.categories),
            "counts": self.counts.tolist(),
            "other": self.other,
        }

    @classmethod
    def from_dict(cls, raw: Any) -> CategoryReference:
        """A column back from `to_dict()`, checked so that a damaged file fails here."""
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            msg = "reference categorical column must be an object with a string 'name'"
            raise ValueError(msg)
        name, categories, counts, other = (
            raw["name"],
            raw.get("categories"),
            raw.get("counts"),
            raw.get("other", 0),
        )
        if (
            not isinstance(categories, list)
            or not categories
            or not all(isinstance(c, str) for c in categories)
            or len(set(categories)) != len(categories)
            or not isinstance(counts, list)
            or len(counts) != len(categories)
            or not all(_count(c) and c > 0 for c in counts)
            or not _count(other)
        ):
            msg = (
                f"reference categorical column {name!r}: needs distinct string 'categories', "
                "one positive integer of 'counts' each and an integer 'other' >= 0"
            )
            raise ValueError(msg)
        return cls(name, tuple(categories), np.asarray(counts, dtype=np.int64), other)


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
