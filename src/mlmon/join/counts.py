"""Predictions counted per model and 300-second bucket of event time, exactly once, in the store.

Label completeness (labelled / predicted, per bucket of `quality_by_time.csv`) needs how many
predictions each bucket has, labelled or not. A prediction is counted when the join store
first learns of it, in the same transaction: when it joins at once, when a partner takes it
from memory, or when it goes to disk to wait (`persist`). A prediction that waited only in
memory is counted by none of those before a crash, so its redelivery counts once; one the
store knows is a duplicate and never reaches them. The counts gather in memory over a turn
(`PredictedCounts`) and are UPSERTed by `JoinStore.commit`, one statement per (model, bucket)
touched; a rollback forgets them with the rest. Other processes read them with
`read_predicted`, from a read-only connection: the store is in WAL mode, so a reader never
blocks the metric service's commits nor sees half of one.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mlmon.arrays import Floats
from mlmon.monitoring.quality.by_time import TIERS

BUCKET_SECONDS = TIERS[0][0]  # the finest buckets of quality by event time
# The bucket of predictions without an event time: no multiple of BUCKET_SECONDS.
NO_TIME = -1
STORE_FILE = "join.sqlite"  # in the state directory

SCHEMA = """
CREATE TABLE IF NOT EXISTS predicted (
    model TEXT NOT NULL, bucket INTEGER NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (model, bucket));
"""
_UPSERT = (
    "INSERT INTO predicted (model, bucket, count) VALUES (?, ?, ?) "
    "ON CONFLICT (model, bucket) DO UPDATE SET count = count + excluded.count"
)


class PredictedCounts:
    """New predictions of one turn per (model, bucket start), until `save` or `clear`."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}

    def __bool__(self) -> bool:
        return bool(self._counts)

    def __repr__(self) -> str:
        return f"PredictedCounts({self._counts})"

    def counts(self) -> dict[tuple[str, int], int]:
        return dict(self._counts)

    def add(self, model: str, sent_at: Floats) -> None:
        """One model's new predictions by their event times (NaN: none)."""
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
            low, high = float(buckets.min()), float(buckets.max())
        if low == high:  # a batch's usual case: one send time, or a few close ones
            starts, sizes = [int(low) * BUCKET_SECONDS], [len(buckets)]
        else:
            unique, tally = np.unique(buckets.astype(np.int64), return_counts=True)
            starts, sizes = (unique * BUCKET_SECONDS).tolist(), tally.tolist()
        for start, size in zip(starts, sizes, strict=True):
            counts[model, start] = counts.get((model, start), 0) + size

    def add_rows(
        self, models: Sequence[str], sent_at: Sequence[float | None], skip: Sequence[int] = ()
    ) -> None:
        """Predictions of any models, one event time each (None: none), but those at the
        positions `skip`."""
        if not models:
            return
        stamps = np.array(sent_at, dtype=np.float64)  # None becomes NaN
        first = models[0]
        if models.count(first) == len(models):
            self.add(first, np.delete(stamps, skip) if skip else stamps)
            return
        names, codes = np.unique(np.asarray(models, dtype=object), return_inverse=True)
        if skip:
            stamps, codes = np.delete(stamps, skip), np.delete(codes, skip)
        for code, name in enumerate(names.tolist()):
            self.add(name, stamps[codes == code])

    def save(self, db: sqlite3.Connection) -> None:
        """Add the turn's counts to the store's (uncommitted: the caller commits)."""
        db.executemany(_UPSERT, [(m, b, n) for (m, b), n in self._counts.items()])
        self._counts.clear()

    def clear(self) -> None:
        self._counts.clear()


def read_predicted(state_dir: Path) -> dict[str, dict[int, int]] | None:
    """Per model, predictions per bucket start (NO_TIME: without an event time), as last
    committed; None when there is no store (no metric service has run here)."""
    path = state_dir / STORE_FILE
    if not path.exists():
        return None
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
    try:
        rows = db.execute("SELECT model, bucket, count FROM predicted").fetchall()
    except sqlite3.OperationalError as error:
        if "no such table" not in str(error):
            raise
        return {}  # a store from before predictions were counted
    finally:
        db.close()
    predicted: dict[str, dict[int, int]] = {}
    for model, bucket, count in rows:
        predicted.setdefault(model, {})[int(bucket)] = int(count)
    return predicted
