"""`last_Ts`: a model's records with `at > now - T`, as numpy chunks; past WINDOW_RECORDS the
oldest fold into running figures per 1/WINDOW_SLICES of the window, which leave whole.

Time windows expect `at` to rise per model, as join times do; a record that comes out of order
is still counted by `at`, but may be held until those before it expire.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from mlmon.arrays import Floats
from mlmon.monitoring.quality.figures import (
    Mode,
    WindowFigures,
    classification_figures,
    regression_figures,
)
from mlmon.monitoring.quality.running import Running, running_for

CHUNK = 256  # records (single or in small batches) a time window gathers into one numpy chunk
WINDOW_RECORDS = 100_000  # records a time window keeps one by one (24 bytes each)
WINDOW_SLICES = 60  # beyond those, a time window keeps running figures per 1/60 of itself
EMPTY = np.empty(0)


class Chunk(NamedTuple):
    y_true: Floats
    y_pred: Floats
    at: Floats
    newest: float
    ascending: bool  # `at` never falls, so a binary search finds where expired records end


@dataclass
class Slice:
    """Records folded out of a time window's chunks: their running figures, newest `at`."""

    running: Running
    newest: float


class LastSeconds:
    """A model's records with `at` > now - `seconds`: numpy chunks, oldest first.

    At most `keep` records are kept one by one; beyond that the oldest chunks are folded into
    running figures per 1/WINDOW_SLICES of the window (exact sums, sketched quantiles), which
    leave whole, when their newest record is older than the window. So memory and the cost of
    a snapshot stay bounded at any rate (at the pipeline's peak rates a minute of records
    would otherwise take hundreds of MB); a window that small rates fill is computed exactly."""

    def __init__(
        self, seconds: float, mode: Mode = "regression", keep: int = WINDOW_RECORDS
    ) -> None:
        self.seconds = seconds
        self.mode: Mode = mode
        self.keep = keep
        self._chunks: deque[Chunk] = deque()
        self._head = 0  # records of the first chunk already expired
        self._stored = 0  # records in the chunks, expired ones at the head included
        self._recent: list[tuple[float, float, float]] = []  # single records, not yet a chunk
        # Small batches wait here until they make a chunk of CHUNK records: a snapshot joins
        # every chunk, and a window of many small batches would make every snapshot slow, on
        # the metric's event loop.
        self._pending: list[tuple[Floats, Floats, Floats]] = []
        self._pending_size = 0
        self._newest = -math.inf
        self._slices: dict[int, Slice] = {}
        self._slice_seconds = seconds / WINDOW_SLICES

    def add(self, y_true: float, y_pred: float, at: float) -> None:
        self._recent.append((y_true, y_pred, at))
        self._newest = max(self._newest, at)
        if len(self._recent) >= CHUNK:
            self._flush()
            self._expire(self._newest - self.seconds)
            self._fold()

    def extend(self, y_true: Floats, y_pred: Floats, at: Floats) -> None:
        self._hold_recent()  # records keep their order of arrival
        self._pending.append((y_true.copy(), y_pred.copy(), at.copy()))
        self._pending_size += at.size
        self._newest = max(self._newest, float(at.max()))
        if self._pending_size >= CHUNK:
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
        running = running_for(self.mode)
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
            return EMPTY, EMPTY
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
                    part = self._slices[index] = Slice(running_for(self.mode), -math.inf)
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
        self._chunks.append(Chunk(y_true, y_pred, at, float(at.max()), ascending))
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
