"""MAE and RMSE per bucket of time (or of rows), kept incrementally in bounded memory.

The over-time charts (the dashboard's and metrics_over_time.png) show, per model, the count,
MAE and RMSE of the errors in each bucket. Buckets are by joined_at, over the current run only
(the rows since the last pause of more than IDLE_GAP seconds between consecutive rows of the
log), in the smallest width of the `SECONDS` ladder that covers the run in at most
TIME_BUCKETS buckets; a log with an untimed row (a seed log has no joined_at) goes by row
number instead, in widths of the `ROWS` ladder (1, 2, 5, 10, 20, 50, ... rows). A row whose
joined_at is finite but no sane epoch time (beyond MAX_TIME seconds either way: a corrupt
cell) is left out of the time axis, counted in `implausible` and warned about once.

No row is kept. Each model's count, sum and sum of squares are added into *slots* of a size
that divides every width the chart may still pick (the ladder's widths from the current one
up), so each bucket shown is a union of whole slots and its figures are exact. As the run grows
the width does, and so may the slot size: neighbouring slots are then merged, which only adds
sums. A slot is at least half a bucket wide, so a run or a log of any length takes at most
about 2 * TIME_BUCKETS + 2 slots (24 bytes each) per model.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats, Rows

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]

TIME_BUCKETS = 60  # points per over-time series at most
IDLE_GAP = 300.0  # seconds without rows that start a new run in the over-time series
# Seconds from the epoch (year 5138) past which a joined_at is corrupt, not a time; it also
# keeps slot numbers and their products far from int64's limits.
MAX_TIME = 1e11
DAY = 86400
# Bucket widths in seconds the series snaps to, so labels read well; then 2, 5, 10, 20... days.
NICE_SECONDS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, DAY)


def one_two_five() -> Iterator[int]:
    """1, 2, 5, 10, 20, 50, 100, ..."""
    for power in itertools.count():
        for step in (1, 2, 5):
            yield step * 10**power


@dataclass(frozen=True)
class Ladder:
    """The bucket widths a chart may use, smallest first: `steps`, then the last of them times
    2, 5, 10, 20, 50, ... Every step divides the last, so later widths are its multiples."""

    steps: tuple[int, ...]

    def widths(self) -> Iterator[int]:
        yield from self.steps
        yield from (self.steps[-1] * factor for factor in itertools.islice(one_two_five(), 1, None))

    def width(self, span: float, buckets: int) -> int:
        """The smallest width that covers `span` in at most `buckets` buckets."""
        return next(w for w in self.widths() if span / w <= buckets)

    def aligned_width(self, low: float, high: float, buckets: int) -> int:
        """The smallest width whose buckets, from the multiple of it at or before `low`, reach
        `high` in at most `buckets`: flooring the origin may take one more than `span` alone."""
        return next(w for w in self.widths() if _buckets(low, high, w) <= buckets)

    def slot(self, width: int) -> int:
        """The largest size dividing every width from `width` up. Past a thousand times
        `width` the ladder only repeats its steps times powers of ten, multiples of what came
        before, so the greatest common divisor is settled by then."""
        tail = itertools.takewhile(lambda w: w <= 1000 * width, self.widths())
        return math.gcd(*(w for w in tail if w >= width))


SECONDS = Ladder(NICE_SECONDS)
ROWS = Ladder((1,))


def _buckets(low: float, high: float, width: int) -> int:
    """Buckets of `width` from the multiple of it at or before `low` up to `high`."""
    return int((high - math.floor(low / width) * width) // width) + 1


class SlotSums:
    """One model's count, sum and sum of squares of errors per slot (consecutive integers)."""

    def __init__(self) -> None:
        self.first = 0  # the slot of element 0
        self.count: IntArray = np.zeros(0, np.int64)
        self.total: Floats = np.zeros(0)
        self.squares: Floats = np.zeros(0)

    def __repr__(self) -> str:
        return f"SlotSums(first={self.first}, slots={len(self.count)}, rows={self.rows})"

    @property
    def rows(self) -> int:
        return int(self.count.sum())

    @property
    def nbytes(self) -> int:
        return self.count.nbytes + self.total.nbytes + self.squares.nbytes

    def add(self, slots: IntArray, errors: Floats) -> None:
        """Count each error into its slot."""
        if not len(slots):
            return
        self._cover(int(slots.min()), int(slots.max()))
        at = slots - self.first
        size = len(self.count)
        self.count += np.bincount(at, minlength=size)
        self.total += np.bincount(at, weights=errors, minlength=size)
        self.squares += np.bincount(at, weights=errors * errors, minlength=size)

    def merge(self, factor: int) -> None:
        """Make each slot `factor` times wider: slot s goes into s // factor."""
        if factor == 1 or not len(self.count):
            return
        index = (self.first + np.arange(len(self.count))) // factor
        self.first = int(index[0])
        self.count, self.total, self.squares = _summed(
            index - self.first, int(index[-1]) - self.first + 1, self
        )

    def regrouped(self, width: int, origin: int, buckets: int) -> tuple[IntArray, Floats, Floats]:
        """Count, sum and sum of squares per bucket of `width` slots from slot `origin` (at or
        before the first slot). In slot units, so no product of a slot and its size is formed."""
        index = (self.first - origin + np.arange(len(self.count))) // width
        return _summed(index, buckets, self)

    def _cover(self, low: int, high: int) -> None:
        if not len(self.count):
            self.first = low
        before = max(0, self.first - low)
        after = max(0, high - (self.first + len(self.count) - 1))
        if before or after:
            self.count = np.pad(self.count, (before, after))
            self.total = np.pad(self.total, (before, after))
            self.squares = np.pad(self.squares, (before, after))
            self.first -= before


def _summed(index: IntArray, size: int, sums: SlotSums) -> tuple[IntArray, Floats, Floats]:
    count: IntArray = np.zeros(size, np.int64)
    np.add.at(count, index, sums.count)
    # With weights, bincount gives floats already (its stubs say integers): no copy is made.
    total = np.bincount(index, sums.total, size).astype(np.float64, copy=False)
    squares = np.bincount(index, sums.squares, size).astype(np.float64, copy=False)
    return count, total, squares


class _Slotted:
    """Per model slot sums, all of one slot size, which only grows."""

    def __init__(self) -> None:
        self.size = 1
        self.models: dict[int, SlotSums] = {}

    @property
    def nbytes(self) -> int:
        return sum(sums.nbytes for sums in self.models.values())

    def widen(self, size: int) -> None:
        """Merge slots up to `size`, a multiple of the current size."""
        if size > self.size:
            for sums in self.models.values():
                sums.merge(size // self.size)
            self.size = size

    def add(self, split: Sequence[tuple[int, Rows]], slots: IntArray, errors: Floats) -> None:
        """Add each model's rows (`split`: its code and their positions) into its slots."""
        for code, rows in split:
            self.models.setdefault(code, SlotSums()).add(slots[rows], errors[rows])


class OverTime:
    """The over-time series of a log fed block by block, in memory that does not grow with it.

    Both axes are kept as rows come, as a later untimed row switches the chart to row numbers
    for good; the time slots are dropped then. `finest` is the most buckets a series may be
    asked for: slots are sized for it.
    """

    def __init__(self, finest: int = TIME_BUCKETS) -> None:
        self.finest = finest
        self.rows = 0
        self.timed = True  # every row so far has a finite joined_at
        self.implausible = 0  # rows left out of the time axis: joined_at beyond MAX_TIME
        self._last_time = math.nan
        self._by_row = _Slotted()
        self._new_run()

    def __repr__(self) -> str:
        return f"OverTime(rows={self.rows}, timed={self.timed}, nbytes={self.nbytes})"

    def _new_run(self) -> None:
        self._run = _Slotted()
        self._low, self._high = math.inf, -math.inf

    @property
    def nbytes(self) -> int:
        return self._by_row.nbytes + self._run.nbytes

    def add(self, errors: Floats, split: Sequence[tuple[int, Rows]], times: Floats) -> None:
        """Take a block of rows in log order: errors, the positions of each model's rows (as
        `rows_by_model` gives them) and joined_at."""
        if not len(errors):
            return
        rows = self.rows + len(errors)
        self._by_row.widen(ROWS.slot(ROWS.width(rows, self.finest)))
        numbers = np.arange(self.rows, rows, dtype=np.int64)
        self._by_row.add(split, numbers // self._by_row.size, errors)
        self.rows = rows
        if not self.timed:
            return
        if not bool(np.isfinite(times).all()):
            self.timed = False
            self._new_run()  # never shown again: free it
            return
        # Rows left out of the time axis: a corrupt joined_at, or before the current run.
        keep = np.abs(times) <= MAX_TIME
        if not bool(keep.all()):
            self._leave_out(int(np.count_nonzero(~keep)), float(times[~keep][0]))
            if not keep.any():
                return
        kept_times = times[keep]
        pauses = np.flatnonzero(np.diff(kept_times, prepend=self._last_time) > IDLE_GAP)
        self._last_time = float(kept_times[-1])
        if len(pauses):
            self._new_run()
            keep[: np.flatnonzero(keep)[pauses[-1]]] = False
        if not bool(keep.all()):
            split = [(code, _within(rows, keep)) for code, rows in split]
            times = np.where(keep, times, 0.0)  # left-out rows are indexed by no model
        self._low = min(self._low, float(times[keep].min()))
        self._high = max(self._high, float(times[keep].max()))
        # Widen before adding: the block may stretch the run far past the current slots.
        self._run.widen(SECONDS.slot(SECONDS.width(self._high - self._low, self.finest)))
        # Floor division is exact where floor(t / size) could round onto the next slot.
        slots = (times // self._run.size).astype(np.int64)
        self._run.add(split, slots, errors)

    def _leave_out(self, rows: int, example: float) -> None:
        if not self.implausible:
            log.warning(
                "joined_at %r is no time (beyond %.0e s from the epoch): such rows are left "
                "out of the over-time series (counted, not warned about again)",
                example,
                MAX_TIME,
            )
        self.implausible += rows

    def series(self, names: Sequence[str], buckets: int = TIME_BUCKETS) -> dict[str, Any]:
        """MAE and RMSE per bucket per model (named by `names`, indexed by model code); by
        joined_at over the current run, or by row number once a row was untimed."""
        if buckets > self.finest:
            msg = f"{buckets} buckets asked of series kept for at most {self.finest}"
            raise ValueError(msg)
        if not self.rows or (self.timed and self._low > self._high):  # none on its axis
            return {"axis": "time", "width": 0, "start": [], "models": []}
        origin: float
        if self.timed:
            kept = self._run
            width = SECONDS.aligned_width(self._low, self._high, buckets)
            origin = math.floor(self._low / width) * width
            slots = _buckets(self._low, self._high, width)
        else:
            kept = self._by_row
            width = ROWS.width(self.rows, buckets)
            origin = 0.0
            slots = (self.rows - 1) // width + 1
        models = []
        for code, name in enumerate(names):
            sums = kept.models.get(code)
            if sums is None or not sums.count.any():
                continue
            count, total, squares = sums.regrouped(
                width // kept.size, int(origin) // kept.size, slots
            )
            with np.errstate(invalid="ignore", divide="ignore"):
                mae, rmse = total / count, np.sqrt(squares / count)
            models.append(
                {
                    "model": name or "model",
                    "rows": count.tolist(),
                    "mae": _per_bucket(count, mae),
                    "rmse": _per_bucket(count, rmse),
                }
            )
        starts = (origin + np.arange(slots) * width).tolist()
        axis = "time" if self.timed else "row"
        return {"axis": axis, "width": width, "start": starts, "models": models}


def _within(rows: Rows, keep: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    """The positions among `rows` (positions in a block) that `keep` keeps."""
    positions = np.arange(len(keep))[rows]
    return positions[keep[positions]]


def _per_bucket(count: IntArray, values: Floats) -> list[float | None]:
    """A bucket without rows is a gap (None), not a zero; JSON has no NaN or Infinity."""
    return [
        None if c == 0 or not math.isfinite(v) else v
        for c, v in zip(count.tolist(), values.tolist(), strict=True)
    ]
