"""Quality of a model's predictions over sliding windows, updated per record (no I/O, no clock).

A `QualityTracker` keeps, per model and per window, the figures a dashboard shows: for
regression the count, MAE, RMSE, MAPE, R², bias and absolute-error quantiles; for classification
the accuracy, macro precision / recall / F1 and the confusion matrix. Windows, all at once:

- `last_N`: the model's last N records, in the order they were added;
- `last_Ts`: the model's records with `at > now - T`, where `now` is the snapshot's time;
- `all`: every record since the tracker started.

Callers pass every timestamp, so nothing here reads a clock. `add` and `add_many` cost O(1)
amortised per record: a count window writes into a ring buffer, a time window appends to a queue
of numpy chunks and drops expired chunks from its head, and `all` folds each record into
compensated running sums and a `LogHistogram` of absolute errors. Memory is bounded by the window
sizes (plus 256 buffered records per time window) and the fixed histogram, per model; a time
window keeps at most WINDOW_RECORDS records one by one and folds older ones into running figures
per 1/60 of the window, which leave whole (see `_LastSeconds`).
`snapshot` computes the count and time windows' figures from the records they hold, exactly
(numpy, O(window)), as their quantiles need those records anyway; running sums would drift as
records leave. Except a busy time window, once it has folded records: its figures are then
those of the records in the window plus those of the slices that reach into it (up to 1/60 of
the window past its edge), with sketched quantiles. Time windows expect `at` to rise per
model, as join times do; a record that comes out of order is still counted by `at`, but may be
held until those before it expire.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.errors import ConfigError, RecordError

Mode = Literal["regression", "classification"]

ALL = "all"
MAPE_EPS = 1e-9  # |y_true| below this leaves a record out of MAPE (it would divide by ~0)
QUANTILES = (0.5, 0.9, 0.99)
SKETCH_RELATIVE_ERROR = 0.005
SKETCH_LOW = 1e-9  # positive values below this read as SKETCH_LOW / 2
SKETCH_HIGH = 1e15  # values from here up read as the largest value seen
_CHUNK = 256  # records (single or in small batches) a time window gathers into one numpy chunk
WINDOW_RECORDS = 100_000  # records a time window keeps one by one (24 bytes each)
WINDOW_SLICES = 60  # beyond those, a time window keeps running figures per 1/60 of itself
_EMPTY = np.empty(0)


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


@dataclass(frozen=True, slots=True)
class RegressionFigures:
    """One window's regression figures; None where undefined (no records, R² of one, ...)."""

    count: int
    mae: float | None
    rmse: float | None
    mape: float | None  # a fraction, like scikit-learn's; None when no |y_true| >= MAPE_EPS
    mape_skipped: int  # records left out of MAPE for |y_true| < MAPE_EPS
    r2: float | None  # None with fewer than 2 records or when y_true does not vary
    bias: float | None  # mean(y_pred - y_true)
    max_abs_error: float | None
    abs_error_p50: float | None
    abs_error_p90: float | None
    abs_error_p99: float | None

    def to_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


@dataclass(frozen=True, slots=True)
class ClassificationFigures:
    """One window's classification figures, macro-averaged over the labels it holds."""

    count: int
    accuracy: float | None
    precision: float | None  # a label never predicted counts 0, as zero_division=0 does
    recall: float | None
    f1: float | None
    labels: tuple[float, ...]  # every label seen as y_true or y_pred, ascending
    confusion: tuple[tuple[int, ...], ...]  # [i][j]: records of label i predicted as label j

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "labels": list(self.labels),
            "confusion": [list(row) for row in self.confusion],
        }

    def confusion_counts(self) -> dict[tuple[float, float], int]:
        """The confusion matrix as (y_true, y_pred) -> count, zero cells left out."""
        return {
            (true, pred): count
            for true, row in zip(self.labels, self.confusion, strict=True)
            for pred, count in zip(self.labels, row, strict=True)
            if count
        }


WindowFigures: TypeAlias = RegressionFigures | ClassificationFigures
_NO_REGRESSION = RegressionFigures(0, None, None, None, 0, None, None, None, None, None, None)
_NO_CLASSIFICATION = ClassificationFigures(0, None, None, None, None, (), ())


def regression_figures(y_true: Floats, y_pred: Floats) -> RegressionFigures:
    """Every regression figure of these records, exactly (quantiles as numpy.quantile)."""
    if y_true.size == 0:
        return _NO_REGRESSION
    error = y_pred - y_true
    absolute = np.abs(error)
    denominator = np.abs(y_true)
    kept = denominator >= MAPE_EPS
    mape = float(np.mean(absolute[kept] / denominator[kept])) if kept.any() else None
    squares = float(np.sum(error * error))
    r2 = None
    if y_true.size >= 2 and y_true.min() != y_true.max():
        spread = float(np.sum((y_true - y_true.mean()) ** 2))
        r2 = 1 - squares / spread if spread > 0 else None
    p50, p90, p99 = (float(x) for x in np.quantile(absolute, QUANTILES))
    return RegressionFigures(
        count=int(y_true.size),
        mae=float(np.mean(absolute)),
        rmse=math.sqrt(squares / y_true.size),
        mape=mape,
        mape_skipped=int(y_true.size - np.count_nonzero(kept)),
        r2=r2,
        bias=float(np.mean(error)),
        max_abs_error=float(absolute.max()),
        abs_error_p50=p50,
        abs_error_p90=p90,
        abs_error_p99=p99,
    )


def classification_figures(y_true: Floats, y_pred: Floats) -> ClassificationFigures:
    """Every classification figure of these records (labels: every one seen on either side)."""
    labels, confusion = _confusion(y_true, y_pred)
    return _from_confusion(tuple(float(x) for x in labels), confusion)


def _confusion(y_true: Floats, y_pred: Floats) -> tuple[Floats, npt.NDArray[np.int64]]:
    labels = np.unique(np.concatenate([y_true, y_pred]))
    k = labels.size
    cells = np.searchsorted(labels, y_true) * k + np.searchsorted(labels, y_pred)
    return labels, np.bincount(cells, minlength=k * k).reshape(k, k)


def _from_confusion(
    labels: tuple[float, ...], confusion: npt.NDArray[np.int64]
) -> ClassificationFigures:
    count = int(confusion.sum())
    if count == 0:
        return _NO_CLASSIFICATION
    hits = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    # 2PR / (P + R) without the 0/0 of a label that is never hit; predicted + actual > 0.
    f1 = 2 * hits / (predicted + actual)
    return ClassificationFigures(
        count=count,
        accuracy=float(hits.sum() / count),
        precision=float(precision.mean()),
        recall=float(recall.mean()),
        f1=float(f1.mean()),
        labels=labels,
        confusion=tuple(tuple(int(x) for x in row) for row in confusion),
    )


class _Sum:
    """A float sum with Neumaier's compensation: its error stays about one rounding."""

    __slots__ = ("_carry", "_total")

    def __init__(self) -> None:
        self._total = 0.0
        self._carry = 0.0

    def add(self, value: float) -> None:
        total = self._total + value
        if abs(self._total) >= abs(value):
            self._carry += (self._total - total) + value
        else:
            self._carry += (value - total) + self._total
        self._total = total

    @property
    def value(self) -> float:
        return self._total + self._carry


def merged_moments(
    count: int,
    mean: float,
    deviations: float,
    other_count: int,
    other_mean: float,
    other_deviations: float,
) -> tuple[float, float]:
    """The mean and the sum of squared deviations from it of two sets of values taken
    together, from each set's count, mean and such sum (Chan et al.'s pairwise update: no
    cancellation, unlike sums of squares). `count + other_count` must be positive."""
    total = count + other_count
    delta = other_mean - mean
    return (
        mean + delta * other_count / total,
        deviations + (other_deviations + delta * delta * count * other_count / total),
    )


class _RunningRegression:
    """The `all` window for regression: running sums, y_true's spread and error quantiles."""

    def __init__(self) -> None:
        self.count = 0
        self._error = _Sum()
        self._absolute = _Sum()
        self._squares = _Sum()
        self._relative = _Sum()
        self._relative_count = 0
        # Mean and sum of squared deviations of y_true (Welford; Chan et al. per batch).
        self._mean = 0.0
        self._deviations = 0.0
        self._min_true = math.inf
        self._max_true = -math.inf
        self._sketch = LogHistogram()

    def add(self, y_true: float, y_pred: float) -> None:
        error = y_pred - y_true
        absolute = abs(error)
        self.count += 1
        self._error.add(error)
        self._absolute.add(absolute)
        self._squares.add(error * error)
        if abs(y_true) >= MAPE_EPS:
            self._relative.add(absolute / abs(y_true))
            self._relative_count += 1
        delta = y_true - self._mean
        self._mean += delta / self.count
        self._deviations += delta * (y_true - self._mean)
        self._min_true = min(self._min_true, y_true)
        self._max_true = max(self._max_true, y_true)
        self._sketch.add(absolute)

    def extend(self, y_true: Floats, y_pred: Floats) -> None:
        error = y_pred - y_true
        absolute = np.abs(error)
        denominator = np.abs(y_true)
        kept = denominator >= MAPE_EPS
        self._error.add(float(error.sum()))
        self._absolute.add(float(absolute.sum()))
        self._squares.add(float(np.dot(error, error)))
        self._relative.add(float((absolute[kept] / denominator[kept]).sum()))
        self._relative_count += int(np.count_nonzero(kept))
        size = y_true.size
        mean = float(y_true.mean())
        centred = y_true - mean
        self._mean, self._deviations = merged_moments(
            self.count, self._mean, self._deviations, size, mean, float(np.dot(centred, centred))
        )
        self.count += size
        self._min_true = min(self._min_true, float(y_true.min()))
        self._max_true = max(self._max_true, float(y_true.max()))
        self._sketch.extend(absolute)

    def merge(self, other: _RunningRegression) -> None:
        """Fold in another's records (Chan et al.'s pairwise update for the variance)."""
        if other.count == 0:
            return
        self._error.add(other._error.value)
        self._absolute.add(other._absolute.value)
        self._squares.add(other._squares.value)
        self._relative.add(other._relative.value)
        self._relative_count += other._relative_count
        self._mean, self._deviations = merged_moments(
            self.count, self._mean, self._deviations, other.count, other._mean, other._deviations
        )
        self.count += other.count
        self._min_true = min(self._min_true, other._min_true)
        self._max_true = max(self._max_true, other._max_true)
        self._sketch.merge(other._sketch)

    def figures(self) -> RegressionFigures:
        if self.count == 0:
            return _NO_REGRESSION
        n = self.count
        squares = self._squares.value
        r2 = None
        if n >= 2 and self._min_true != self._max_true and self._deviations > 0:
            r2 = 1 - squares / self._deviations
        quantiles = self._sketch.quantiles(QUANTILES) or [math.nan] * 3
        return RegressionFigures(
            count=n,
            mae=self._absolute.value / n,
            rmse=math.sqrt(max(squares, 0.0) / n),
            mape=self._relative.value / self._relative_count if self._relative_count else None,
            mape_skipped=n - self._relative_count,
            r2=r2,
            bias=self._error.value / n,
            max_abs_error=self._sketch.max,
            abs_error_p50=quantiles[0],
            abs_error_p90=quantiles[1],
            abs_error_p99=quantiles[2],
        )


class _RunningClassification:
    """The `all` window for classification: a running confusion matrix."""

    def __init__(self) -> None:
        self._cells: dict[tuple[float, float], int] = {}

    def add(self, y_true: float, y_pred: float) -> None:
        key = (y_true, y_pred)
        self._cells[key] = self._cells.get(key, 0) + 1

    def extend(self, y_true: Floats, y_pred: Floats) -> None:
        labels, confusion = _confusion(y_true, y_pred)
        for i, j in zip(*np.nonzero(confusion), strict=True):
            key = (float(labels[i]), float(labels[j]))
            self._cells[key] = self._cells.get(key, 0) + int(confusion[i, j])

    def merge(self, other: _RunningClassification) -> None:
        for key, count in other._cells.items():
            self._cells[key] = self._cells.get(key, 0) + count

    def figures(self) -> ClassificationFigures:
        labels = sorted({label for cell in self._cells for label in cell})
        where = {label: i for i, label in enumerate(labels)}
        confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
        for (true, pred), count in self._cells.items():
            confusion[where[true], where[pred]] = count
        return _from_confusion(tuple(labels), confusion)


class _LastCount:
    """A model's last `size` (y_true, y_pred) pairs in a ring buffer (order within not kept)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._true = np.empty(size)
        self._pred = np.empty(size)
        self._next = 0
        self._filled = 0

    def add(self, y_true: float, y_pred: float) -> None:
        self._true[self._next] = y_true
        self._pred[self._next] = y_pred
        self._next = (self._next + 1) % self.size
        self._filled = min(self._filled + 1, self.size)

    def extend(self, y_true: Floats, y_pred: Floats) -> None:
        k = min(y_true.size, self.size)
        y_true, y_pred = y_true[y_true.size - k :], y_pred[y_pred.size - k :]
        first = min(k, self.size - self._next)
        self._true[self._next : self._next + first] = y_true[:first]
        self._pred[self._next : self._next + first] = y_pred[:first]
        self._true[: k - first] = y_true[first:]
        self._pred[: k - first] = y_pred[first:]
        self._next = (self._next + k) % self.size
        self._filled = min(self._filled + k, self.size)

    @property
    def held(self) -> int:
        return self._filled

    def values(self) -> tuple[Floats, Floats]:
        # Until the buffer first fills, its slots 0.._filled-1 are exactly the window.
        return self._true[: self._filled], self._pred[: self._filled]


class _Chunk(NamedTuple):
    y_true: Floats
    y_pred: Floats
    at: Floats
    newest: float
    ascending: bool  # `at` never falls, so a binary search finds where expired records end


_Running: TypeAlias = "_RunningRegression | _RunningClassification"


@dataclass
class _Slice:
    """Records folded out of a time window's chunks: their running figures, newest `at`."""

    running: _Running
    newest: float


class _LastSeconds:
    """A model's records with `at` > now - `seconds`: numpy chunks, oldest first.

    At most `keep` records are kept one by one; beyond that the oldest chunks are folded into
    running figures per 1/WINDOW_SLICES of the window (exact sums, sketched quantiles), which
    leave whole, when their newest record is older than the window. So memory and the cost of
    a snapshot stay bounded at any rate (a 60 s window at 300,000 records/s would otherwise
    hold 18 million records, 430 MB); a window that small rates fill is computed exactly."""

    def __init__(
        self, seconds: float, mode: Mode = "regression", keep: int = WINDOW_RECORDS
    ) -> None:
        self.seconds = seconds
        self.mode: Mode = mode
        self.keep = keep
        self._chunks: deque[_Chunk] = deque()
        self._head = 0  # records of the first chunk already expired
        self._stored = 0  # records in the chunks, expired ones at the head included
        self._recent: list[tuple[float, float, float]] = []  # single records, not yet a chunk
        # Small batches wait here until they make a chunk of _CHUNK records: a snapshot joins
        # every chunk, and at 1,000 records/s in batches of 6 a minute would be 10,000 chunks
        # (~13 ms a snapshot, on the metric's event loop).
        self._pending: list[tuple[Floats, Floats, Floats]] = []
        self._pending_size = 0
        self._newest = -math.inf
        self._slices: dict[int, _Slice] = {}
        self._slice_seconds = seconds / WINDOW_SLICES

    def add(self, y_true: float, y_pred: float, at: float) -> None:
        self._recent.append((y_true, y_pred, at))
        self._newest = max(self._newest, at)
        if len(self._recent) >= _CHUNK:
            self._flush()
            self._expire(self._newest - self.seconds)
            self._fold()

    def extend(self, y_true: Floats, y_pred: Floats, at: Floats) -> None:
        self._hold_recent()  # records keep their order of arrival
        self._pending.append((y_true.copy(), y_pred.copy(), at.copy()))
        self._pending_size += at.size
        self._newest = max(self._newest, float(at.max()))
        if self._pending_size >= _CHUNK:
            self._flush()
            self._expire(self._newest - self.seconds)
            self._fold()

    def figures(self, now: float) -> WindowFigures:
        """The figures of the records with at > now - seconds (folded ones by their slice)."""
        y_true, y_pred = self.values(now)
        if not self._slices:
            return (regression_figures if self.mode == "regression" else classification_figures)(
                y_true, y_pred
            )
        running = _running(self.mode)
        for part in self._slices.values():
            running.merge(part.running)  # type: ignore[arg-type]
        if y_true.size:
            running.extend(y_true, y_pred)
        return running.figures()

    def values(self, now: float) -> tuple[Floats, Floats]:
        cutoff = now - self.seconds
        self._flush()
        self._expire(cutoff)
        if not self._chunks:
            return _EMPTY, _EMPTY
        first, *rest = self._chunks
        head = self._head
        at = np.concatenate([first.at[head:], *(chunk.at for chunk in rest)])
        y_true = np.concatenate([first.y_true[head:], *(chunk.y_true for chunk in rest)])
        y_pred = np.concatenate([first.y_pred[head:], *(chunk.y_pred for chunk in rest)])
        # Records that came out of order may sit behind newer ones; `at` decides, not position.
        inside = at > cutoff
        return y_true[inside], y_pred[inside]

    @property
    def held(self) -> int:
        """Records kept one by one, expired ones not yet dropped included."""
        return self._stored - self._head + len(self._recent) + self._pending_size

    def _fold(self) -> None:
        """Fold the oldest chunks into their slices' running figures while over `keep`."""
        held = self.held
        while held > self.keep and self._chunks:
            chunk = self._chunks.popleft()
            self._stored -= chunk.at.size
            head, self._head = self._head, 0
            at, y_true, y_pred = chunk.at[head:], chunk.y_true[head:], chunk.y_pred[head:]
            held -= at.size
            slices, which = np.unique(
                np.floor(at / self._slice_seconds).astype(np.int64), return_inverse=True
            )
            for position, index in enumerate(slices.tolist()):
                rows = which == position if slices.size > 1 else slice(None)
                part = self._slices.get(index)
                if part is None:
                    part = self._slices[index] = _Slice(_running(self.mode), -math.inf)
                part.running.extend(y_true[rows], y_pred[rows])
                part.newest = max(part.newest, float(at[rows].max()))

    def _hold_recent(self) -> None:
        if self._recent:
            y_true, y_pred, at = np.array(self._recent).T
            self._recent.clear()
            self._pending.append((y_true.copy(), y_pred.copy(), at.copy()))
            self._pending_size += at.size

    def _flush(self) -> None:
        """Make the single records and small batches waiting one chunk."""
        self._hold_recent()
        if not self._pending:
            return
        if len(self._pending) == 1:
            y_true, y_pred, at = self._pending[0]
        else:
            columns = zip(*self._pending, strict=True)
            y_true, y_pred, at = (np.concatenate(column) for column in columns)
        self._pending.clear()
        self._pending_size = 0
        self._append(y_true, y_pred, at)

    def _append(self, y_true: Floats, y_pred: Floats, at: Floats) -> None:
        ascending = bool(np.all(at[1:] >= at[:-1]))
        self._chunks.append(_Chunk(y_true, y_pred, at, float(at.max()), ascending))
        self._stored += at.size

    def _expire(self, cutoff: float) -> None:
        """Drop records from the head while their `at` is at or before `cutoff`, and slices
        whose newest record is."""
        for index in [i for i, part in self._slices.items() if part.newest <= cutoff]:
            del self._slices[index]
        while self._chunks:
            chunk = self._chunks[0]
            if chunk.newest <= cutoff:
                self._chunks.popleft()
                self._stored -= chunk.at.size
                self._head = 0
                continue
            rest = chunk.at[self._head :]
            if chunk.ascending:
                self._head += int(np.searchsorted(rest, cutoff, side="right"))
            else:
                self._head += int(np.argmax(rest > cutoff))
            return


def _running(mode: Mode) -> _Running:
    return _RunningRegression() if mode == "regression" else _RunningClassification()


class _ModelWindows:
    """One model's count windows, time windows and `all`."""

    def __init__(self, counts: Sequence[int], durations: Sequence[float], mode: Mode) -> None:
        self.counts = [_LastCount(size) for size in counts]
        self.durations = [_LastSeconds(seconds, mode) for seconds in durations]
        self.all = _running(mode)


class QualityTracker:
    """Per model, the quality figures of its last N records, last T seconds and all records."""

    def __init__(
        self,
        count_windows: Sequence[int] = (500,),
        time_windows: Sequence[float] = (60.0,),
        mode: Mode = "regression",
    ) -> None:
        if mode not in ("regression", "classification"):
            msg = f"mode must be 'regression' or 'classification', got {mode!r}"
            raise ConfigError(msg)
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in count_windows):
            msg = f"count windows must be whole numbers of records >= 1, got {count_windows!r}"
            raise ConfigError(msg)
        if any(not (math.isfinite(t) and t > 0) for t in time_windows):
            msg = f"time windows must be finite numbers of seconds > 0, got {time_windows!r}"
            raise ConfigError(msg)
        self.count_windows = tuple(count_windows)
        self.time_windows = tuple(float(t) for t in time_windows)
        self.mode: Mode = mode
        self.window_names = (
            *(f"last_{n}" for n in self.count_windows),
            *(f"last_{t:g}s" for t in self.time_windows),
            ALL,
        )
        if len(set(self.window_names)) != len(self.window_names):
            msg = f"a window is given twice: {self.window_names}"
            raise ConfigError(msg)
        self._models: dict[str, _ModelWindows] = {}

    def __repr__(self) -> str:
        return (
            f"QualityTracker(count_windows={self.count_windows}, "
            f"time_windows={self.time_windows}, mode={self.mode!r}, models={len(self._models)})"
        )

    @property
    def models(self) -> tuple[str, ...]:
        """Every model with at least one record, sorted."""
        return tuple(sorted(self._models))

    def held(self) -> int:
        """Records kept one by one in the count and time windows of every model (24 bytes or
        so each; records folded into a busy time window's slices are not counted)."""
        return sum(
            sum(window.held for window in windows.counts)
            + sum(window.held for window in windows.durations)
            for windows in self._models.values()
        )

    def add(self, model: str, y_true: float, y_pred: float, at: float) -> None:
        """Take one record: its true value, the model's prediction and its time (seconds)."""
        y_true, y_pred, at = float(y_true), float(y_pred), float(at)
        if not (math.isfinite(y_true) and math.isfinite(y_pred) and math.isfinite(at)):
            reason = f"y_true={y_true}, y_pred={y_pred}, at={at}: every one must be finite"
            raise RecordError(model, reason)
        if self.mode == "regression" and not math.isfinite(y_pred - y_true):
            raise RecordError(model, f"y_pred - y_true overflows ({y_pred} - {y_true})")
        windows = self._windows(model)
        for last_count in windows.counts:
            last_count.add(y_true, y_pred)
        for last_seconds in windows.durations:
            last_seconds.add(y_true, y_pred, at)
        windows.all.add(y_true, y_pred)

    def add_many(
        self, model: str, y_true: npt.ArrayLike, y_pred: npt.ArrayLike, at: npt.ArrayLike
    ) -> None:
        """Take a batch of records, oldest first, as three arrays of one length."""
        true = np.asarray(y_true, dtype=np.float64).ravel()
        pred = np.asarray(y_pred, dtype=np.float64).ravel()
        times = np.asarray(at, dtype=np.float64).ravel()
        if not true.size == pred.size == times.size:
            msg = f"y_true, y_pred and at differ in length: {true.size}, {pred.size}, {times.size}"
            raise ValueError(msg)
        if true.size == 0:
            return
        finite = np.isfinite(true) & np.isfinite(pred) & np.isfinite(times)
        if self.mode == "regression":
            with np.errstate(over="ignore", invalid="ignore"):
                finite &= np.isfinite(pred - true)
        if not finite.all():
            row = int(np.argmin(finite))
            reason = (
                f"row {row} of the batch has y_true={true[row]}, y_pred={pred[row]}, "
                f"at={times[row]}: every one (and their difference) must be finite"
            )
            raise RecordError(model, reason)
        windows = self._windows(model)
        for last_count in windows.counts:
            last_count.extend(true, pred)
        for last_seconds in windows.durations:
            last_seconds.extend(true, pred, times)
        windows.all.extend(true, pred)

    def snapshot(self, now: float) -> dict[str, dict[str, WindowFigures]]:
        """Model -> window name -> figures; time windows hold the records with at > now - T."""
        figures = regression_figures if self.mode == "regression" else classification_figures
        report: dict[str, dict[str, WindowFigures]] = {}
        for model in self.models:
            windows = self._models[model]
            per_window: list[WindowFigures] = [
                figures(*last_count.values()) for last_count in windows.counts
            ]
            per_window += [last_seconds.figures(now) for last_seconds in windows.durations]
            per_window.append(windows.all.figures())
            report[model] = dict(zip(self.window_names, per_window, strict=True))
        return report

    def _windows(self, model: str) -> _ModelWindows:
        windows = self._models.get(model)
        if windows is None:
            windows = _ModelWindows(self.count_windows, self.time_windows, self.mode)
            self._models[model] = windows
        return windows
