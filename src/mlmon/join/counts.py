"""Predictions counted per model and 300-second bucket of event time, exactly once, in the store;
with their estimated figures' cells (`monitoring.estimation.live`) when estimation is on.

Label completeness (labelled / predicted, per bucket of `quality_by_time.csv`) needs how many
predictions each bucket has, labelled or not. A prediction is counted when the join store
first learns of it, in the same transaction: when it joins at once, when a partner takes it
from memory, or when it goes to disk to wait (`persist`). A prediction that waited only in
memory is counted by none of those before a crash, so its redelivery counts once; one the
store knows is a duplicate and never reaches them. The counts gather in memory over a turn
(`PredictedCounts`) and are UPSERTed by `JoinStore.commit`, one statement per (model, bucket)
touched; a rollback forgets them with the rest. A prediction's estimate cells go with its count,
summed per (model, bucket, cell) in the `estimated` table, so they too count exactly once.
Old rows are merged into coarser buckets (`compact`) as `ByEventTime` merges its sums, so the
tables stay small however long the service runs. Other processes read them with
`read_predicted`, from a read-only connection: the store is in WAL mode, so a reader never
blocks the metric service's commits nor sees half of one.
"""

from __future__ import annotations

import itertools
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlmon.arrays import Floats
from mlmon.monitoring.estimation.live import add_cells
from mlmon.monitoring.quality.by_time import TIERS

BUCKET_SECONDS = TIERS[0][0]  # the finest buckets of quality by event time
# The bucket of predictions without an event time: no multiple of BUCKET_SECONDS.
NO_TIME = -1
STORE_FILE = "join.sqlite"  # in the state directory

SCHEMA = """
CREATE TABLE IF NOT EXISTS predicted (
    model TEXT NOT NULL, bucket INTEGER NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (model, bucket));
CREATE TABLE IF NOT EXISTS estimated (
    model TEXT NOT NULL, bucket INTEGER NOT NULL, cell INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (model, bucket, cell));
"""
_UPSERT = (
    "INSERT INTO predicted (model, bucket, count) VALUES (?, ?, ?) "
    "ON CONFLICT (model, bucket) DO UPDATE SET count = count + excluded.count"
)
_UPSERT_CELLS = (
    "INSERT INTO estimated (model, bucket, cell, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (model, bucket, cell) DO UPDATE SET value = value + excluded.value"
)


class PredictedCounts:
    """New predictions of one turn per (model, bucket start), and their estimate cells, until
    `save` or `clear`."""

    __slots__ = ("_cells", "_counts")

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._cells: dict[tuple[str, int], Floats] = {}

    def __bool__(self) -> bool:
        return bool(self._counts)

    def __repr__(self) -> str:
        return f"PredictedCounts({self._counts})"

    def counts(self) -> dict[tuple[str, int], int]:
        return dict(self._counts)

    def cells(self) -> dict[tuple[str, int], Floats]:
        return {key: value.copy() for key, value in self._cells.items()}

    def add(self, model: str, sent_at: Floats, cells: Floats | None = None) -> None:
        """One model's new predictions by their event times (NaN: none), with their estimate
        cells (rows x cells; None: not estimated)."""
        if not len(sent_at):
            return
        counts = self._counts
        buckets = np.floor(sent_at / BUCKET_SECONDS)
        low, high = float(buckets.min()), float(buckets.max())
        if not math.isfinite(low + high):  # some without an event time (NaN propagates)
            timed = np.isfinite(buckets)
            untimed = len(buckets) - int(np.count_nonzero(timed))
            counts[model, NO_TIME] = counts.get((model, NO_TIME), 0) + untimed
            if untimed == len(buckets):
                return
            buckets = buckets[timed]
            cells = None if cells is None else cells[timed]
            low, high = float(buckets.min()), float(buckets.max())
        if low == high:  # a batch's usual case: one send time, or a few close ones
            starts, sizes = [int(low) * BUCKET_SECONDS], [len(buckets)]
            if cells is not None:
                self._add_cells(model, starts[0], cells.sum(axis=0))
        else:
            unique, inverse, tally = np.unique(
                buckets.astype(np.int64), return_inverse=True, return_counts=True
            )
            starts, sizes = (unique * BUCKET_SECONDS).tolist(), tally.tolist()
            if cells is not None:
                sums = np.zeros((len(unique), cells.shape[1]))
                np.add.at(sums, inverse, cells)
                for start, row in zip(starts, sums, strict=True):
                    self._add_cells(model, start, row)
        for start, size in zip(starts, sizes, strict=True):
            counts[model, start] = counts.get((model, start), 0) + size

    def _add_cells(self, model: str, start: int, row: Floats) -> None:
        if row[0] <= 0:  # no row of it estimated
            return
        self._cells[model, start] = add_cells(self._cells.get((model, start)), row)

    def add_rows(
        self,
        models: Sequence[str],
        sent_at: Sequence[float | None],
        skip: Sequence[int] = (),
        cells: Sequence[Floats | None] | None = None,
    ) -> None:
        """Predictions of any models, one event time each (None: none), but those at the
        positions `skip`; `cells`: each one's estimate cells (None: not estimated)."""
        if not models:
            return
        stamps = np.array(sent_at, dtype=np.float64)  # None becomes NaN
        matrix = _cell_matrix(cells, skip) if cells is not None else None
        first = models[0]
        if models.count(first) == len(models):
            self.add(first, np.delete(stamps, skip) if skip else stamps, matrix)
            return
        names, codes = np.unique(np.asarray(models, dtype=object), return_inverse=True)
        if skip:
            stamps, codes = np.delete(stamps, skip), np.delete(codes, skip)
        for code, name in enumerate(names.tolist()):
            mine = codes == code
            self.add(name, stamps[mine], None if matrix is None else matrix[mine])

    def save(self, db: sqlite3.Connection) -> None:
        """Add the turn's counts and cells to the store's (uncommitted: the caller commits)."""
        db.executemany(_UPSERT, [(m, b, n) for (m, b), n in self._counts.items()])
        if self._cells:
            db.executemany(
                _UPSERT_CELLS,
                [(m, b, i, v) for (m, b), row in self._cells.items()
                 for i, v in enumerate(row.tolist())],
            )  # fmt: skip
        self.clear()

    def clear(self) -> None:
        self._counts.clear()
        self._cells.clear()


def _cell_matrix(cells: Sequence[Floats | None], skip: Sequence[int]) -> Floats | None:
    """Rows' cells as one matrix (zeros where a row has none), `skip` left out; None when no
    row has any."""
    left_out = set(skip)
    kept = [c for i, c in enumerate(cells) if i not in left_out]
    width = next((len(c) for c in kept if c is not None), 0)
    if not width:
        return None
    matrix = np.zeros((len(kept), width))
    for i, row in enumerate(kept):
        if row is not None and len(row) == width:
            matrix[i] = row
    return matrix


def compact(db: sqlite3.Connection) -> None:
    """Merge old rows into coarser buckets, by `TIERS` and the latest bucket start counted
    (uncommitted: the caller commits). A reader places a row by its start and the latest event
    time it knows, never earlier than this one (`ByEventTime.set_predicted`), so a merged row
    always lands in the coarse bucket it stands for."""
    latest = db.execute("SELECT MAX(bucket) FROM predicted").fetchone()[0]
    if latest is None:
        return
    for (width, keep), (wider, _) in itertools.pairwise(TIERS):
        if not math.isfinite(keep):
            break
        old = (int(latest - keep - width), wider)  # start + width < latest - keep; unaligned
        db.execute(
            "INSERT INTO predicted (model, bucket, count) "
            "SELECT model, bucket / ?2 * ?2, SUM(count) FROM predicted "
            "WHERE bucket >= 0 AND bucket < ?1 AND bucket % ?2 != 0 GROUP BY model, bucket / ?2 "
            "ON CONFLICT (model, bucket) DO UPDATE SET count = count + excluded.count",
            old,
        )
        db.execute(
            "INSERT INTO estimated (model, bucket, cell, value) "
            "SELECT model, bucket / ?2 * ?2, cell, SUM(value) FROM estimated "
            "WHERE bucket >= 0 AND bucket < ?1 AND bucket % ?2 != 0 "
            "GROUP BY model, bucket / ?2, cell "
            "ON CONFLICT (model, bucket, cell) DO UPDATE SET value = value + excluded.value",
            old,
        )
        for table in ("predicted", "estimated"):
            db.execute(
                f"DELETE FROM {table} WHERE bucket >= 0 AND bucket < ?1 AND bucket % ?2 != 0",  # noqa: S608
                old,
            )


def _committed_rows(state_dir: Path, *queries: str) -> list[list[Any]] | None:
    """The rows of each query as last committed, all from one snapshot (one read transaction
    on a read-only connection); None when there is no store, [] for a table it lacks."""
    path = state_dir / STORE_FILE
    if not path.exists():
        return None
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
    try:
        db.execute("BEGIN")
        results = []
        for query in queries:
            try:
                results.append(db.execute(query).fetchall())
            except sqlite3.OperationalError as error:
                if "no such table" not in str(error):
                    raise
                results.append([])  # a store from before the table
        return results
    finally:
        db.close()


_PREDICTED = "SELECT model, bucket, count FROM predicted"
_ESTIMATED = "SELECT model, bucket, cell, value FROM estimated"


def read_counts(
    state_dir: Path,
) -> tuple[dict[str, dict[int, int]] | None, dict[str, dict[int, Floats]]]:
    """`read_predicted` and `read_estimated` from one snapshot, so that a compaction between
    them cannot show one merged and the other not."""
    found = _committed_rows(state_dir, _PREDICTED, _ESTIMATED)
    if found is None:
        return None, {}
    return _predicted(found[0]), _estimated(found[1])


def read_predicted(state_dir: Path) -> dict[str, dict[int, int]] | None:
    """Per model, predictions per bucket start (NO_TIME: without an event time), as last
    committed; None when there is no store (no metric service has run here)."""
    found = _committed_rows(state_dir, _PREDICTED)
    return None if found is None else _predicted(found[0])


def read_estimated(state_dir: Path) -> dict[str, dict[int, Floats]]:
    """Per model, the summed estimate cells per bucket start, as last committed ({} when
    there are none or no store)."""
    found = _committed_rows(state_dir, _ESTIMATED)
    return {} if found is None else _estimated(found[0])


def _predicted(rows: list[Any]) -> dict[str, dict[int, int]]:
    predicted: dict[str, dict[int, int]] = {}
    for model, bucket, count in rows:
        predicted.setdefault(model, {})[int(bucket)] = int(count)
    return predicted


def _estimated(rows: list[Any]) -> dict[str, dict[int, Floats]]:
    cells: dict[tuple[str, int], dict[int, float]] = {}
    for model, bucket, cell, value in rows:
        cells.setdefault((model, int(bucket)), {})[int(cell)] = float(value)
    estimated: dict[str, dict[int, Floats]] = {}
    for (model, bucket), values in cells.items():
        row = np.zeros(max(values) + 1)
        for cell, value in values.items():
            row[cell] = value
        estimated.setdefault(model, {})[bucket] = row
    return estimated
