"""The durable join of true values and predictions by record id (SQLite, on disk).

A true value and its prediction may arrive in either order, seconds or hours apart. Whichever
half comes first waits here, on disk, so the metric service can ack its delivery at once (a
delivery held unacked past RabbitMQ's consumer_timeout would close the channel), memory stays
bounded however many halves wait, and nothing waiting is lost when the service restarts.

One true value may meet predictions from several models; each (id, model) pair joins once.
Truths and joined pairs are remembered for `max_wait` seconds so a redelivered or duplicated
half is recognised instead of written twice. A half whose partner does not come within
`max_wait` is expired as an orphan and handed back to the caller to log.

Every change happens inside a transaction that the caller commits together with the offsets
of the logs it wrote (`commit`), so the logs and this store always agree after a crash.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS truths (
    key TEXT PRIMARY KEY, value REAL NOT NULL, sent_at REAL, arrived_at REAL NOT NULL,
    matched INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS truths_arrived ON truths (arrived_at);
CREATE TABLE IF NOT EXISTS predictions (
    key TEXT NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL, value REAL NOT NULL,
    sent_at REAL, arrived_at REAL NOT NULL, PRIMARY KEY (key, model));
CREATE INDEX IF NOT EXISTS predictions_arrived ON predictions (arrived_at);
CREATE TABLE IF NOT EXISTS joined (
    key TEXT NOT NULL, model TEXT NOT NULL, y_pred REAL NOT NULL, joined_at REAL NOT NULL,
    PRIMARY KEY (key, model));
CREATE INDEX IF NOT EXISTS joined_at ON joined (joined_at);
CREATE TABLE IF NOT EXISTS offsets (log TEXT PRIMARY KEY, offset INTEGER NOT NULL);
"""


_IN_CHUNK = 400  # keys per `IN (...)` query, under SQLite's bound-parameter limit


class Verdict(Enum):
    JOINED = "joined"
    PENDING = "pending"
    DUPLICATE = "duplicate"  # seen before with the same value: a redelivery, ignored
    CONFLICT = "conflict"  # seen before with another value: dead-lettered by the caller


@dataclass(frozen=True, slots=True)
class Truth:
    key: str
    value: float
    sent_at: float | None
    arrived_at: float


@dataclass(frozen=True, slots=True)
class Prediction:
    key: str
    value: float
    model: str
    version: str
    sent_at: float | None
    arrived_at: float


@dataclass(frozen=True, slots=True)
class Pair:
    """A joined record: one row of metric_log.csv."""

    key: str
    y_true: float
    y_pred: float
    model: str
    version: str
    sent_at: float | None
    joined_at: float
    # Seconds from the prediction's arrival to its true value's; negative when the label came
    # first.
    label_delay: float = 0.0

    @property
    def absolute_error(self) -> float:
        return abs(self.y_true - self.y_pred)


@dataclass(frozen=True, slots=True)
class Offer:
    verdict: Verdict
    pairs: tuple[Pair, ...] = ()
    reason: str = ""


PENDING = Offer(Verdict.PENDING)


@dataclass(frozen=True, slots=True)
class Orphan:
    key: str
    kind: str  # "y_true" or "y_pred"
    value: float
    model: str
    arrived_at: float


class JoinStore:
    """Pending halves, recently joined ids and log offsets, in one SQLite file."""

    def __init__(self, path: Path | str, max_wait: float) -> None:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_wait = max_wait
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A commit survives power loss, not just a crash.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._db.execute("BEGIN")

    def __repr__(self) -> str:
        return f"JoinStore({str(self.path)!r}, max_wait={self.max_wait})"

    def offset(self, log: str) -> int:
        row = self._db.execute("SELECT offset FROM offsets WHERE log = ?", (log,)).fetchone()
        return int(row[0]) if row else 0

    def commit(self, offsets: dict[str, int]) -> None:
        """Make every change since the last commit durable, with the logs' new end offsets."""
        self._db.executemany(
            "INSERT INTO offsets (log, offset) VALUES (?, ?) "
            "ON CONFLICT (log) DO UPDATE SET offset = excluded.offset",
            offsets.items(),
        )
        self._db.execute("COMMIT")
        self._db.execute("BEGIN")

    def rollback(self) -> None:
        self._db.execute("ROLLBACK")
        self._db.execute("BEGIN")

    def offer_truth(self, truth: Truth) -> Offer:
        return self.offer_truths([truth])[0]

    def offer_prediction(self, prediction: Prediction) -> Offer:
        return self.offer_predictions([prediction])[0]

    def offer_truths(self, truths: Sequence[Truth]) -> list[Offer]:
        """Offer true values in arrival order; a few set-wise queries for the whole batch."""
        keys = [truth.key for truth in truths]
        seen = dict(self._select("SELECT key, value FROM truths WHERE key IN ({})", keys))
        waiting: dict[str, list[tuple[Any, ...]]] = {}
        for key, *rest in self._select(
            "SELECT key, model, version, value, sent_at, arrived_at FROM predictions "
            "WHERE key IN ({})",
            keys,
        ):
            waiting.setdefault(key, []).append(tuple(rest))
        offers: list[Offer] = []
        inserted: list[tuple[Any, ...]] = []
        met: list[tuple[str]] = []
        pairs: list[Pair] = []
        for truth in truths:
            if truth.key in seen:
                offers.append(_repeat("y_true", truth.key, seen[truth.key], truth.value))
                continue
            seen[truth.key] = truth.value
            partners = waiting.pop(truth.key, ())
            inserted.append(
                (truth.key, truth.value, truth.sent_at, truth.arrived_at, int(bool(partners)))
            )
            if not partners:
                offers.append(PENDING)
                continue
            met.append((truth.key,))
            joined = tuple(
                Pair(
                    truth.key,
                    truth.value,
                    value,
                    model,
                    version,
                    truth.sent_at if truth.sent_at is not None else sent_at,
                    truth.arrived_at,
                    truth.arrived_at - arrived_at,
                )
                for model, version, value, sent_at, arrived_at in partners
            )
            pairs.extend(joined)
            offers.append(Offer(Verdict.JOINED, joined))
        db = self._db
        db.executemany(
            "INSERT INTO truths (key, value, sent_at, arrived_at, matched) VALUES (?, ?, ?, ?, ?)",
            inserted,
        )
        db.executemany("DELETE FROM predictions WHERE key = ?", met)
        self._remember(pairs)
        return offers

    def offer_predictions(self, predictions: Sequence[Prediction]) -> list[Offer]:
        """Offer predictions in arrival order; a few set-wise queries for the whole batch."""
        keys = [prediction.key for prediction in predictions]
        seen = {
            (key, model): value
            for key, model, value in self._select(
                "SELECT key, model, y_pred FROM joined WHERE key IN ({0}) UNION ALL "
                "SELECT key, model, value FROM predictions WHERE key IN ({0})",
                keys,
                2,
            )
        }
        truths = {
            key: (value, sent_at, arrived_at)
            for key, value, sent_at, arrived_at in self._select(
                "SELECT key, value, sent_at, arrived_at FROM truths WHERE key IN ({})", keys
            )
        }
        offers: list[Offer] = []
        inserted: list[tuple[Any, ...]] = []
        matched: list[tuple[str]] = []
        pairs: list[Pair] = []
        for prediction in predictions:
            ident = (prediction.key, prediction.model)
            if ident in seen:
                what = f"y_pred of model {prediction.model!r}"
                offers.append(_repeat(what, prediction.key, seen[ident], prediction.value))
                continue
            seen[ident] = prediction.value
            truth = truths.get(prediction.key)
            if truth is None:
                inserted.append(
                    (
                        *ident,
                        prediction.version,
                        prediction.value,
                        prediction.sent_at,
                        prediction.arrived_at,
                    )
                )
                offers.append(PENDING)
                continue
            matched.append((prediction.key,))
            sent_at = truth[1] if truth[1] is not None else prediction.sent_at
            pair = Pair(
                prediction.key,
                truth[0],
                prediction.value,
                prediction.model,
                prediction.version,
                sent_at,
                prediction.arrived_at,
                truth[2] - prediction.arrived_at,
            )
            pairs.append(pair)
            offers.append(Offer(Verdict.JOINED, (pair,)))
        db = self._db
        db.executemany(
            "INSERT INTO predictions (key, model, version, value, sent_at, arrived_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            inserted,
        )
        db.executemany("UPDATE truths SET matched = 1 WHERE key = ?", matched)
        self._remember(pairs)
        return offers

    def _select(self, sql: str, keys: list[str], repeat: int = 1) -> Iterator[tuple[Any, ...]]:
        """Run `sql` with its `IN ({})` lists filled by `keys`, in chunks SQLite accepts."""
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            yield from self._db.execute(sql.format(marks), chunk * repeat)

    def _remember(self, pairs: Sequence[Pair]) -> None:
        self._db.executemany(
            "INSERT INTO joined (key, model, y_pred, joined_at) VALUES (?, ?, ?, ?)",
            [(p.key, p.model, p.y_pred, p.joined_at) for p in pairs],
        )

    def expire(self, now: float) -> list[Orphan]:
        """Forget what is older than max_wait; return the halves that never met a partner."""
        cutoff = now - self.max_wait
        db = self._db
        orphans = [
            Orphan(key, "y_pred", value, model, arrived)
            for key, model, value, arrived in db.execute(
                "SELECT key, model, value, arrived_at FROM predictions WHERE arrived_at < ?",
                (cutoff,),
            )
        ]
        orphans += [
            Orphan(key, "y_true", value, "", arrived)
            for key, value, arrived in db.execute(
                "SELECT key, value, arrived_at FROM truths WHERE arrived_at < ? AND matched = 0",
                (cutoff,),
            )
        ]
        db.execute("DELETE FROM predictions WHERE arrived_at < ?", (cutoff,))
        db.execute("DELETE FROM truths WHERE arrived_at < ?", (cutoff,))
        db.execute("DELETE FROM joined WHERE joined_at < ?", (cutoff,))
        return orphans

    def pending(self) -> dict[str, int]:
        """Halves waiting for a partner, by kind."""
        db = self._db
        truths = db.execute("SELECT COUNT(*) FROM truths WHERE matched = 0").fetchone()[0]
        predictions = db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
        return {"y_true": int(truths), "y_pred": int(predictions)}

    def close(self) -> None:
        self._db.execute("ROLLBACK")
        self._db.close()


def _repeat(what: str, key: str, seen: float, offered: float) -> Offer:
    if seen == offered:
        return Offer(Verdict.DUPLICATE)
    reason = f"duplicate id {key!r}: {what} was {seen!r}, now {offered!r}"
    return Offer(Verdict.CONFLICT, reason=reason)
