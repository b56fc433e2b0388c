"""The durable side of the join of true values and predictions by record id (SQLite, on disk).

A true value and its prediction may arrive in either order, seconds or hours apart. A half
whose partner has not come by the time its delivery must be acked waits here, on disk (a
delivery held unacked past RabbitMQ's consumer_timeout would close the channel), so memory
stays bounded however many halves wait, and nothing waiting is lost when the service restarts.
The decisions (join, duplicate, conflict) are the record join's and the batch join's; this
module keeps the facts.

One true value may meet predictions from several models; each (id, model) pair joins once.
Joined pairs are remembered with their true value for `max_wait` seconds, so a redelivered or
duplicated half of either kind is recognised instead of written twice, and a later model's
prediction still meets its true value. A half whose partner does not come within `max_wait` is
expired as an orphan and handed back to the caller to log.

Every change happens inside a transaction that the caller commits together with the offsets
of the logs it wrote (`commit`), so the logs and this store always agree after a crash; so do
the predictions counted per bucket of event time (`join.counts`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from mlmon.join.counts import SCHEMA as PREDICTED_SCHEMA
from mlmon.join.counts import PredictedCounts, compact
from mlmon.wire import Y_PRED, Y_TRUE

_SCHEMA = """
CREATE TABLE IF NOT EXISTS truths (
    key TEXT PRIMARY KEY, value REAL NOT NULL, sent_at REAL, arrived_at REAL NOT NULL,
    matched INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS truths_arrived ON truths (arrived_at);
CREATE TABLE IF NOT EXISTS predictions (
    key TEXT NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL, value REAL NOT NULL,
    sent_at REAL, arrived_at REAL NOT NULL, extra TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (key, model));
CREATE INDEX IF NOT EXISTS predictions_arrived ON predictions (arrived_at);
CREATE TABLE IF NOT EXISTS joined (
    key TEXT NOT NULL, model TEXT NOT NULL, y_pred REAL NOT NULL, joined_at REAL NOT NULL,
    y_true REAL, truth_sent_at REAL, truth_arrived_at REAL,
    PRIMARY KEY (key, model));
CREATE INDEX IF NOT EXISTS joined_at ON joined (joined_at);
CREATE TABLE IF NOT EXISTS offsets (log TEXT PRIMARY KEY, offset INTEGER NOT NULL);
-- Class labels seen (`wire.labels`): a half that waits here across a restart is written to
-- the log with its label's text.
CREATE TABLE IF NOT EXISTS labels (code REAL PRIMARY KEY, label TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS truth_batches (
    batch TEXT PRIMARY KEY, body BLOB NOT NULL, digest BLOB NOT NULL, arrived_at REAL NOT NULL,
    unmatched BLOB NOT NULL, waiting INTEGER NOT NULL, touched_at REAL);
CREATE INDEX IF NOT EXISTS truth_batches_arrived ON truth_batches (arrived_at);
CREATE TABLE IF NOT EXISTS prediction_batches (
    batch TEXT NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL, body BLOB NOT NULL,
    digest BLOB NOT NULL, arrived_at REAL NOT NULL, rows INTEGER NOT NULL, joined_at REAL,
    PRIMARY KEY (batch, model));
CREATE INDEX IF NOT EXISTS prediction_batches_arrived ON prediction_batches (arrived_at);
-- The store keeps max_wait (an hour) of joined batches to recognise redeliveries: a great
-- many of each kind. The pending gauges (every second) and the expiry sweep read only what
-- waits or what expires through these; a scan of them all is too slow at that size.
CREATE INDEX IF NOT EXISTS truths_unmatched ON truths (arrived_at) WHERE matched = 0;
CREATE INDEX IF NOT EXISTS truth_batches_waiting ON truth_batches (arrived_at) WHERE waiting > 0;
CREATE INDEX IF NOT EXISTS prediction_batches_waiting ON prediction_batches (arrived_at)
    WHERE joined_at IS NULL;
CREATE INDEX IF NOT EXISTS truth_batches_touched
    ON truth_batches (COALESCE(touched_at, arrived_at));
CREATE INDEX IF NOT EXISTS prediction_batches_touched
    ON prediction_batches (COALESCE(joined_at, arrived_at));
"""


# A store from before the true value was kept with each joined pair lacks these columns; its
# joined truths are still in `truths` (matched = 1), which `facts` reads too.
_JOINED_TRUTH_COLUMNS = ("y_true REAL", "truth_sent_at REAL", "truth_arrived_at REAL")
_IN_CHUNK = 400  # keys per `IN (...)` query, under SQLite's bound-parameter limit

TruthFact: TypeAlias = tuple[float, float | None, float]  # value, sent_at, arrived_at
# model, version, value, sent_at, arrived_at, extra (the log's scores and tags cells, or "")
PredictionFact: TypeAlias = tuple[str, str, float, float | None, float, str]


@dataclass(slots=True)
class Facts:
    """What the store knows about some keys, for the record join to decide on their halves."""

    pending_truths: dict[str, TruthFact] = field(default_factory=dict)
    known_truths: dict[str, TruthFact] = field(default_factory=dict)  # joined already
    pending_predictions: dict[str, dict[str, PredictionFact]] = field(default_factory=dict)
    joined: dict[tuple[str, str], float] = field(default_factory=dict)  # (key, model): y_pred


@dataclass(slots=True)
class Changes:
    """One batch's changes to the store: joined rows and halves that no longer wait."""

    joined: list[tuple[Any, ...]] = field(default_factory=list)
    truths_met: list[tuple[str]] = field(default_factory=list)
    predictions_met: list[tuple[str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Orphan:
    key: str
    kind: str  # Y_TRUE or Y_PRED
    value: float
    model: str
    arrived_at: float


@dataclass(frozen=True, slots=True)
class StoredTruthBatch:
    body: bytes
    digest: bytes
    arrived_at: float
    unmatched: bytes  # int32 row numbers no model has matched yet


@dataclass(frozen=True, slots=True)
class StoredPredictionBatch:
    model: str
    version: str
    body: bytes
    digest: bytes
    arrived_at: float


class JoinStore:
    """Pending halves, recently joined pairs and log offsets, in one SQLite file."""

    def __init__(self, path: Path | str, max_wait: float) -> None:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_wait = max_wait
        # The metric commits a backlog's batches in a worker thread (the loop reads on during
        # the fsync), other batches on the loop; calls never overlap: the service's lock
        # orders them, and its clean-up waits for that thread to finish.
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A commit survives power loss, not just a crash.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA + PREDICTED_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(joined)")}
        for column in _JOINED_TRUTH_COLUMNS:
            if column.split()[0] not in columns:
                self._db.execute(f"ALTER TABLE joined ADD COLUMN {column}")
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(truth_batches)")}
        if "touched_at" not in columns:
            self._db.execute("ALTER TABLE truth_batches ADD COLUMN touched_at REAL")
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(predictions)")}
        if "extra" not in columns:
            self._db.execute("ALTER TABLE predictions ADD COLUMN extra TEXT NOT NULL DEFAULT ''")
        self._db.execute("BEGIN")
        self._committed: tuple[int, dict[str, int]] = (self._db.total_changes, {})
        self.predicted = PredictedCounts()  # saved by `commit`, forgotten by `rollback`

    def __repr__(self) -> str:
        return f"JoinStore({str(self.path)!r}, max_wait={self.max_wait})"

    def offset(self, log: str) -> int:
        row = self._db.execute("SELECT offset FROM offsets WHERE log = ?", (log,)).fetchone()
        return int(row[0]) if row else 0

    def commit(self, offsets: dict[str, int]) -> None:
        """Make every change since the last commit durable, with the logs' new end offsets."""
        self.predicted.save(self._db)
        self._db.executemany(
            "INSERT INTO offsets (log, offset) VALUES (?, ?) "
            "ON CONFLICT (log) DO UPDATE SET offset = excluded.offset",
            offsets.items(),
        )
        self._db.execute("COMMIT")
        self._db.execute("BEGIN")
        self._committed = (self._db.total_changes, {**self._committed[1], **offsets})

    def changed(self, offsets: dict[str, int]) -> bool:
        """Whether committing `offsets` would change anything: rows changed or predictions
        counted since the last commit, or an offset that differs from the one committed."""
        changes, committed = self._committed
        return (
            bool(self.predicted)
            or self._db.total_changes != changes
            or any(committed.get(log) != offset for log, offset in offsets.items())
        )

    def rollback(self) -> None:
        self.predicted.clear()
        self._db.execute("ROLLBACK")
        self._db.execute("BEGIN")

    def facts(self, keys: Sequence[str]) -> Facts:
        """Everything stored about these keys: three indexed look-ups per chunk of keys, which
        cost little when, as usual, the keys are new."""
        facts = Facts()
        for key, value, sent_at, arrived_at, matched in self._select(
            "SELECT key, value, sent_at, arrived_at, matched FROM truths WHERE key IN ({})", keys
        ):
            where = facts.known_truths if matched else facts.pending_truths
            where[key] = (value, sent_at, arrived_at)
        for key, model, version, value, sent_at, arrived_at, extra in self._select(
            "SELECT key, model, version, value, sent_at, arrived_at, extra FROM predictions "
            "WHERE key IN ({})",
            keys,
        ):
            facts.pending_predictions.setdefault(key, {})[model] = (
                model,
                version,
                value,
                sent_at,
                arrived_at,
                extra,
            )
        for key, model, y_pred, y_true, sent_at, arrived_at in self._select(
            "SELECT key, model, y_pred, y_true, truth_sent_at, truth_arrived_at FROM joined "
            "WHERE key IN ({})",
            keys,
        ):
            facts.joined[key, model] = y_pred
            if y_true is not None:
                facts.known_truths[key] = (y_true, sent_at, arrived_at)
        return facts

    def apply(self, changes: Changes) -> None:
        """Record joined pairs and forget the waiting halves they used (uncommitted)."""
        db = self._db
        db.executemany(
            "INSERT INTO joined (key, model, y_pred, joined_at, y_true, truth_sent_at, "
            "truth_arrived_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            changes.joined,
        )
        db.executemany("DELETE FROM truths WHERE key = ? AND matched = 0", changes.truths_met)
        db.executemany("DELETE FROM predictions WHERE key = ?", changes.predictions_met)

    def add_pending(
        self,
        truths: Sequence[tuple[str, float, float | None, float]],
        predictions: Sequence[tuple[str, str, str, float, float | None, float, str]],
    ) -> None:
        """Halves that wait for their partner on disk: truths as (key, value, sent_at,
        arrived_at), predictions as (key, model, version, value, sent_at, arrived_at,
        extra)."""
        self._db.executemany(
            "INSERT INTO truths (key, value, sent_at, arrived_at, matched) VALUES (?, ?, ?, ?, 0)",
            truths,
        )
        self._db.executemany(
            "INSERT INTO predictions (key, model, version, value, sent_at, arrived_at, extra) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            predictions,
        )

    def labels(self) -> list[tuple[float, str]]:
        """The class labels saved by `save_labels`, as (code, text)."""
        return [(float(code), str(text)) for code, text in self._db.execute("SELECT * FROM labels")]

    def save_labels(self, labels: Sequence[tuple[float, str]]) -> None:
        """Remember class labels (uncommitted, like every other change)."""
        self._db.executemany("INSERT OR IGNORE INTO labels (code, label) VALUES (?, ?)", labels)

    def _select(self, sql: str, keys: Sequence[str], repeat: int = 1) -> Iterator[tuple[Any, ...]]:
        """Run `sql` with its `IN ({})` lists filled by `keys`, in chunks SQLite accepts."""
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            yield from self._db.execute(sql.format(marks), chunk * repeat)

    def expire(self, now: float) -> list[Orphan]:
        """Forget what is older than max_wait; return the halves that never met a partner."""
        cutoff = now - self.max_wait
        db = self._db
        orphans = [
            Orphan(key, Y_PRED, value, model, arrived)
            for key, model, value, arrived in db.execute(
                "SELECT key, model, value, arrived_at FROM predictions WHERE arrived_at < ?",
                (cutoff,),
            )
        ]
        orphans += [
            Orphan(key, Y_TRUE, value, "", arrived)
            for key, value, arrived in db.execute(
                "SELECT key, value, arrived_at FROM truths WHERE arrived_at < ? AND matched = 0",
                (cutoff,),
            )
        ]
        db.execute("DELETE FROM predictions WHERE arrived_at < ?", (cutoff,))
        db.execute("DELETE FROM truths WHERE arrived_at < ?", (cutoff,))
        db.execute("DELETE FROM joined WHERE joined_at < ?", (cutoff,))
        compact(db)  # old prediction counts and estimate cells into coarser buckets
        return orphans

    def pending(self) -> dict[str, int]:
        """Halves waiting for a partner, by kind (records, whether alone or in batches)."""
        db = self._db
        truths = db.execute(
            "SELECT (SELECT COUNT(*) FROM truths WHERE matched = 0)"
            " + (SELECT COALESCE(SUM(waiting), 0) FROM truth_batches WHERE waiting > 0)"
        ).fetchone()[0]
        predictions = db.execute(
            "SELECT (SELECT COUNT(*) FROM predictions)"
            " + (SELECT COALESCE(SUM(rows), 0) FROM prediction_batches WHERE joined_at IS NULL)"
        ).fetchone()[0]
        return {Y_TRUE: int(truths), Y_PRED: int(predictions)}

    # Whole batches (the batch join): one row per batch of mlmon's own messages, however many
    # records it carries, the body kept as it came off the wire.

    def truth_batch(self, batch: str) -> StoredTruthBatch | None:
        row = self._db.execute(
            "SELECT body, digest, arrived_at, unmatched FROM truth_batches WHERE batch = ?",
            (batch,),
        ).fetchone()
        return None if row is None else StoredTruthBatch(*row)

    def save_truth_batch(
        self, batch: str, body: bytes, digest: bytes, arrived_at: float, unmatched: bytes,
        waiting: int, joined_at: float | None,
    ) -> None:  # fmt: skip
        """Insert a true values' batch, or update which of its rows no model has matched;
        `joined_at` (a model's predictions just met it) keeps it max_wait longer."""
        self._db.execute(
            "INSERT INTO truth_batches "
            "(batch, body, digest, arrived_at, unmatched, waiting, touched_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (batch) DO UPDATE SET "
            "unmatched = excluded.unmatched, waiting = excluded.waiting, "
            "touched_at = COALESCE(excluded.touched_at, truth_batches.touched_at)",
            (batch, body, digest, arrived_at, unmatched, waiting, joined_at),
        )

    def prediction_batch_digest(self, batch: str, model: str) -> bytes | None:
        row = self._db.execute(
            "SELECT digest FROM prediction_batches WHERE batch = ? AND model = ?", (batch, model)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def waiting_prediction_batches(self, batch: str) -> list[StoredPredictionBatch]:
        return [
            StoredPredictionBatch(*row)
            for row in self._db.execute(
                "SELECT model, version, body, digest, arrived_at FROM prediction_batches "
                "WHERE batch = ? AND joined_at IS NULL",
                (batch,),
            )
        ]

    def save_prediction_batch(
        self, batch: str, stored: StoredPredictionBatch, rows: int, joined_at: float | None
    ) -> None:
        """Insert a model's batch of predictions, waiting (joined_at None) or joined; a joined
        batch keeps only its digest, to recognise a redelivery."""
        body = stored.body if joined_at is None else b""
        self._db.execute(
            "INSERT INTO prediction_batches "
            "(batch, model, version, body, digest, arrived_at, rows, joined_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (batch, model) DO UPDATE SET "
            "body = excluded.body, joined_at = excluded.joined_at",
            (batch, stored.model, stored.version, body, stored.digest, stored.arrived_at, rows,
             joined_at),
        )  # fmt: skip

    def expire_batches(
        self, now: float
    ) -> tuple[list[StoredTruthBatch], list[StoredPredictionBatch]]:
        """Forget batches older than max_wait (true values: since they came or a model last
        met them, as the joined pairs of the record-by-record join are kept); return those with
        rows that never met a partner: true values' batches with unmatched rows, predictions'
        batches never joined."""
        cutoff = now - self.max_wait
        db = self._db
        truths = [
            StoredTruthBatch(*row)
            for row in db.execute(
                "SELECT body, digest, arrived_at, unmatched FROM truth_batches "
                "WHERE COALESCE(touched_at, arrived_at) < ? AND waiting > 0",
                (cutoff,),
            )
        ]
        predictions = [
            StoredPredictionBatch(*row)
            for row in db.execute(
                "SELECT model, version, body, digest, arrived_at FROM prediction_batches "
                "WHERE arrived_at < ? AND joined_at IS NULL",
                (cutoff,),
            )
        ]
        db.execute(
            "DELETE FROM truth_batches WHERE COALESCE(touched_at, arrived_at) < ?", (cutoff,)
        )
        db.execute(
            "DELETE FROM prediction_batches WHERE COALESCE(joined_at, arrived_at) < ?", (cutoff,)
        )
        return truths, predictions

    def close(self) -> None:
        self._db.execute("ROLLBACK")
        self._db.close()
