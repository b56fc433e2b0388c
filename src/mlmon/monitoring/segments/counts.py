"""Per tag key and value, the count, sum and sum of squares of one model's errors, in memory
that stays flat whatever the tags hold.

Each key keeps at most KEPT_VALUES values with exact sums from the row that admitted them; the
rows of every other value are summed together as OTHER_VALUE. Which values are kept follows
their frequency: values not kept are counted by Space-Saving (Metwally et al., 2005) in at
most WATCHED_VALUES counters, and one whose count (an overestimate by at most the smallest
counter) passes the least frequent kept value's takes its place; the value it displaces folds
into OTHER_VALUE. So every row is in exactly one segment of each of its keys, the kept values
are the frequent ones, and a value admitted late has its figures from then on (its earlier
rows stay in OTHER_VALUE). A model keeps at most MAX_KEYS keys (those seen first).

References: Metwally, Agrawal, El Abbadi, "Efficient computation of frequent and top-k
elements in data streams", ICDT 2005.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats

KEPT_VALUES = 20  # values per key with figures of their own
WATCHED_VALUES = 64  # Space-Saving counters per key for the values not kept
MAX_KEYS = 16  # tag keys per model (wire.checks.MAX_TAGS per record)
OTHER_VALUE = "(other)"


@dataclass(slots=True)
class Stats:
    """Count, sum and sum of squares of some errors."""

    count: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, count: int, total: float, squares: float) -> None:
        self.count += count
        self.total += total
        self.squares += squares

    def merge(self, other: Stats) -> None:
        self.add(other.count, other.total, other.squares)

    def minus(self, other: Stats) -> Stats:
        return Stats(
            self.count - other.count, self.total - other.total, self.squares - other.squares
        )

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else float("nan")

    @property
    def variance(self) -> float:
        """The sample variance (n - 1); 0 below two rows."""
        if self.count < 2:
            return 0.0
        spread = self.squares - self.total * self.total / self.count
        return max(spread, 0.0) / (self.count - 1)


class KeyValues:
    """One tag key's values: the frequent ones kept with exact sums, the rest as OTHER_VALUE."""

    def __init__(self, kept: int = KEPT_VALUES, watched: int = WATCHED_VALUES) -> None:
        self.kept = kept
        self.watched = watched
        self.values: dict[str, Stats] = {}
        self.other = Stats()
        self._watch: dict[str, int] = {}  # Space-Saving: value -> count (an overestimate)

    def __repr__(self) -> str:
        return f"KeyValues(values={len(self.values)}, other={self.other.count})"

    def add(self, value: str, count: int, total: float, squares: float) -> None:
        """Rows of one value: `count` of them, their errors' sum and sum of squares."""
        stats = self.values.get(value)
        if stats is None:
            stats = self._admitted(value, count)
            if stats is None:
                self.other.add(count, total, squares)
                return
        stats.add(count, total, squares)

    def _admitted(self, value: str, count: int) -> Stats | None:
        """A new Stats for `value` if it is (now) among the frequent values, else None."""
        if len(self.values) < self.kept:
            stats = self.values[value] = Stats()
            return stats
        seen = self._watch_count(value, count)
        weakest = min(self.values, key=lambda v: self.values[v].count)
        if seen <= self.values[weakest].count:
            return None
        displaced = self.values.pop(weakest)
        self.other.merge(displaced)
        del self._watch[value]
        self._watch_count(weakest, displaced.count)
        stats = self.values[value] = Stats()
        return stats

    def _watch_count(self, value: str, count: int) -> int:
        """Space-Saving's update: `value`'s counter grows by `count`; a new value takes the
        smallest counter's place (and its count) when every counter is in use."""
        watch = self._watch
        if value not in watch and len(watch) >= self.watched:
            smallest = min(watch, key=watch.__getitem__)
            watch[value] = watch.pop(smallest)
        watch[value] = watch.get(value, 0) + count
        return watch[value]

    def segments(self) -> Iterator[tuple[str, Stats]]:
        """(value, figures) of the kept values, then OTHER_VALUE if it has rows."""
        yield from self.values.items()
        if self.other.count:
            yield OTHER_VALUE, self.other


class SegmentTable:
    """One model's errors overall and per tag key and value (see the module's docstring)."""

    def __init__(
        self, kept: int = KEPT_VALUES, watched: int = WATCHED_VALUES, max_keys: int = MAX_KEYS
    ) -> None:
        self.overall = Stats()
        self.keys: dict[str, KeyValues] = {}
        self.keys_left_out = 0  # blocks x keys met past max_keys (not remembered)
        self._kept, self._watched, self._max_keys = kept, watched, max_keys

    def __repr__(self) -> str:
        return f"SegmentTable(rows={self.overall.count}, keys={list(self.keys)})"

    def add(
        self, errors: Floats, index: npt.NDArray[np.int32], distinct: Sequence[Mapping[str, str]]
    ) -> None:
        """A block of the model's rows: their errors and, per row, the index of its tags in
        `distinct` (-1 for none). Each distinct dict costs a loop turn, not each row."""
        self.overall.add(len(errors), float(errors.sum()), float(np.square(errors).sum()))
        if not distinct:
            return
        tagged = index >= 0
        if not tagged.any():
            return
        rows, kept = index[tagged], errors[tagged]
        counts = np.bincount(rows, minlength=len(distinct)).tolist()
        totals = np.bincount(rows, weights=kept, minlength=len(distinct)).tolist()
        squares = np.bincount(rows, weights=np.square(kept), minlength=len(distinct)).tolist()
        by_value: dict[tuple[str, str], Stats] = {}
        for tags, count, total, square in zip(distinct, counts, totals, squares, strict=True):
            if not count:
                continue
            for pair in tags.items():
                found = by_value.get(pair)
                if found is None:
                    by_value[pair] = Stats(count, total, square)
                else:
                    found.add(count, total, square)
        for (key, value), stats in by_value.items():
            values = self.keys.get(key)
            if values is None:
                if len(self.keys) >= self._max_keys:
                    self.keys_left_out += 1
                    continue
                values = self.keys[key] = KeyValues(self._kept, self._watched)
            values.add(value, stats.count, stats.total, stats.squares)

    def segments(self) -> Iterator[tuple[str, str, Stats]]:
        """(key, value, figures) of every segment, key by key."""
        for key, values in self.keys.items():
            for value, stats in values.segments():
                yield key, value, stats
