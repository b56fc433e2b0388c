"""A model's absolute errors kept one by one while there are few enough, for exact quantiles.

`mlmon report` takes its figures from a `QualityTracker`, whose `all` window (and a busy time
window) keeps quantiles in a sketch: within 0.5 %, but not the value the error-distribution
PNG prints (numpy's linear quantile of every error, up to `SAMPLE_ROWS` a model). These keep
the errors themselves, so that the report gives that same value whenever a window holds at
most `capacity` rows, and says so when it does not.

- `FirstErrors`: the `all` window, exact while the model has at most `capacity` rows;
- `RecentErrors`: a time window ending at any time from the newest row on (the clock's now,
  or the log's last row): the errors joined within the window's length of the newest, at most
  `capacity` of them; exact for a window whose every row is still held.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np

from mlmon.arrays import Floats
from mlmon.summary.log_summary import SAMPLE_ROWS

EXACT_ROWS = SAMPLE_ROWS  # the PNG's quantiles are exact up to this many rows a model too


def exact_quantiles(errors: Floats, qs: Sequence[float]) -> list[float]:
    """numpy's default (linear) quantiles, as the PNG's median and the dashboard's p90."""
    return [float(x) for x in np.quantile(errors, qs)]


class FirstErrors:
    """Every error of a model while there are at most `capacity`; then none (memory freed)."""

    def __init__(self, capacity: int = EXACT_ROWS) -> None:
        self.capacity = capacity
        self.count = 0
        self._parts: list[Floats] = []

    def add(self, errors: Floats) -> None:
        self.count += errors.size
        if self.count > self.capacity:
            self._parts.clear()
        else:
            self._parts.append(errors.copy())

    def values(self) -> Floats | None:
        """Every error so far, or None once there were more than `capacity`."""
        if self.count > self.capacity:
            return None
        return np.concatenate(self._parts) if self._parts else np.empty(0)


class RecentErrors:
    """The errors of rows joined less than `seconds` before the newest, at most `capacity`.

    Rows are expected roughly in joined_at order (as the metric service writes them); a
    window ending at or after the newest row is then held whole unless more than `capacity`
    rows fell in it, in which case the oldest are dropped and the window is not exact until
    they have left it."""

    def __init__(self, seconds: float, capacity: int = EXACT_ROWS) -> None:
        self.seconds = seconds
        self.capacity = capacity
        self._chunks: deque[tuple[Floats, Floats]] = deque()  # (joined_at, errors), oldest first
        self._held = 0
        self._newest = -math.inf
        self._dropped_through = -math.inf  # the latest joined_at dropped for room, not age

    def add(self, errors: Floats, at: Floats) -> None:
        if not errors.size:
            return
        self._chunks.append((at.copy(), errors.copy()))
        self._held += errors.size
        self._newest = max(self._newest, float(at.max()))
        cutoff = self._newest - self.seconds
        while self._chunks and float(self._chunks[0][0].max()) <= cutoff:
            self._held -= self._chunks.popleft()[0].size
        while self._held > self.capacity:
            old_at, old_errors = self._chunks.popleft()
            excess = self._held - self.capacity
            if excess < old_at.size:  # drop only the oldest rows a large chunk has too many
                order = np.argsort(old_at, kind="stable")
                gone, kept = order[:excess], np.sort(order[excess:])
                self._chunks.appendleft((old_at[kept], old_errors[kept]))
                self._held -= excess
                self._dropped_through = max(self._dropped_through, float(old_at[gone].max()))
                break
            self._held -= old_at.size
            self._dropped_through = max(self._dropped_through, float(old_at.max()))

    def values(self, end: float) -> Floats | None:
        """The errors joined after end - seconds, or None if some of those were dropped for
        room; `end` is at or after the newest row (as the tracker's time windows, a row
        stamped later than `end` by a clock that stepped back still counts)."""
        cutoff = end - self.seconds
        if self._dropped_through > cutoff:
            return None
        if not self._chunks:
            return np.empty(0)
        at = np.concatenate([chunk[0] for chunk in self._chunks])
        errors = np.concatenate([chunk[1] for chunk in self._chunks])
        return errors[at > cutoff]
