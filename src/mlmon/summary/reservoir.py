"""A uniform random sample of at most `capacity` values from a stream of any length.

Reservoir sampling (Vitter's Algorithm R), vectorised per block: the value numbered t (from 0)
replaces a uniformly chosen slot with probability capacity / (t + 1). After n values, each of
them is in the sample with probability capacity / n, whatever their order, so quantiles and
histograms of the sample estimate those of the whole stream without bias. Until `capacity`
values have come the sample is every value, in arrival order: figures computed from it are
exact then, not estimates.
"""

from __future__ import annotations

import numpy as np

from mlmon.arrays import Floats

FIRST_ALLOCATION = 16  # values; the buffer doubles up to `capacity`: a quiet model costs little


class Reservoir:
    """At most `capacity` float values: all of them until it is full, then a uniform sample."""

    def __init__(self, capacity: int, rng: np.random.Generator) -> None:
        if capacity < 1:
            msg = f"a reservoir holds at least one value, not {capacity}"
            raise ValueError(msg)
        self.capacity = capacity
        self.seen = 0  # values offered so far
        self._rng = rng
        self._values: Floats = np.empty(min(capacity, FIRST_ALLOCATION), np.float64)

    def __repr__(self) -> str:
        return f"Reservoir(capacity={self.capacity}, seen={self.seen}, held={self.held})"

    @property
    def held(self) -> int:
        """How many values the sample holds: min(seen, capacity)."""
        return min(self.seen, self.capacity)

    @property
    def nbytes(self) -> int:
        return self._values.nbytes

    def values(self) -> Floats:
        """The sample, a copy: later `add` calls do not change it."""
        return self._values[: self.held].copy()

    def add(self, values: Floats) -> None:
        """Offer `values`, in order, as if one by one."""
        free = self.capacity - self.held
        if free > 0:
            taken = values[:free]
            self._make_room(self.held + len(taken))
            self._values[self.held : self.held + len(taken)] = taken
            self.seen += len(taken)
            values = values[free:]
        if not len(values):
            return
        numbers = self.seen + np.arange(len(values), dtype=np.int64)
        slots = self._rng.integers(0, numbers + 1)  # uniform on [0, t] for value number t
        chosen = np.flatnonzero(slots < self.capacity)
        slots = slots[chosen]
        # Taken one by one, a later value chosen for the same slot overwrites an earlier one;
        # numpy's fancy assignment promises no order among repeated indices, so keep the last.
        _, last_from_end = np.unique(slots[::-1], return_index=True)
        keep = len(slots) - 1 - last_from_end
        self._values[slots[keep]] = values[chosen[keep]]
        self.seen += len(values)

    def _make_room(self, size: int) -> None:
        if size <= len(self._values):
            return
        bigger = np.empty(min(self.capacity, max(size, 2 * len(self._values))), np.float64)
        bigger[: self.held] = self._values[: self.held]
        self._values = bigger
