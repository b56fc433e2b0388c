"""The client's buffer and its publishing thread (see the package docstring for its use)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import msgspec
import numpy as np

from mlmon.bus import OutMessage
from mlmon.bus.rabbit import RabbitBus
from mlmon.bus.topology import shard_groups
from mlmon.errors import MlmonError
from mlmon.settings import Settings, load_settings
from mlmon.wire import HEADER_MODEL, HEADER_MODEL_VERSION, JSON, RecordId, record_key
from mlmon.wire.arrow import ARROW
from mlmon.wire.arrow_rows import encode_rows_arrow

log = logging.getLogger(__name__)

Value = float | int | str
NamedValues = Mapping[str, float | int | str | None]

_json = msgspec.json.Encoder()


class BufferFull(MlmonError):
    """More records wait than the buffer holds: the broker is away or slower than the calls."""


@dataclass(slots=True)
class _Record:
    id: RecordId
    value: Value
    ts: float | None
    features: NamedValues | None = None
    scores: Mapping[str, float] | None = None
    tags: Mapping[str, str] | None = None


class Monitor:
    """A model's predictions and true values, buffered and published in the background.

    `max_buffered` bounds the records waiting (both kinds together); a call that finds it full
    waits at most `max_block` seconds for room, then raises BufferFull, so the serving path is
    never held up for long. `batch_size` records make one message; a partial batch goes out
    after `flush_interval` seconds."""

    def __init__(
        self,
        broker: str | None = None,
        *,
        model: str = "unknown",
        version: str = "",
        settings: Settings | None = None,
        max_buffered: int = 100_000,
        batch_size: int = 5_000,
        flush_interval: float = 0.2,
        max_block: float = 0.0,
    ) -> None:
        base = settings or load_settings()
        self.settings = base if broker is None else base.model_copy(update={"broker_url": broker})
        if self.settings.broker_url is None:
            msg = "mlmon.client.Monitor needs a broker URL (argument or MLMON_BROKER_URL)"
            raise MlmonError(msg)
        self.model, self.version = model, version
        self.max_buffered, self.batch_size = max_buffered, batch_size
        self.flush_interval, self.max_block = flush_interval, max_block
        self.published = {"y_pred": 0, "y_true": 0}  # records confirmed by the broker
        self._predictions: list[_Record] = []
        self._labels: list[_Record] = []
        self._waiting = 0  # records taken by the thread, not yet confirmed
        self._lock = threading.Condition()
        self._closing = False
        self._error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._wake: asyncio.Event | None = None
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="mlmon-client", daemon=True
        )
        self._thread.start()
        ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    # The serving path: cheap appends under a lock.

    def log_prediction(
        self,
        id: RecordId,
        prediction: Value,
        *,
        features: NamedValues | None = None,
        scores: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        ts: float | None = None,
    ) -> None:
        """One prediction: a number, or a class label with its class probabilities. `ts`:
        when it was made, in epoch seconds (default: the time of this call), its bucket of
        quality by prediction time."""
        when = time.time() if ts is None else ts
        self._add(True, _Record(_plain(id), _plain(prediction), when, features, scores, tags))

    def log_label(self, id: RecordId, value: Value, *, ts: float | None = None) -> None:
        """The true value of a record whose prediction was (or will be) logged."""
        self._add(False, _Record(_plain(id), _plain(value), ts))

    def log_predictions(
        self,
        ids: Iterable[RecordId],
        predictions: Iterable[Value],
        *,
        features: Any = None,
        scores: Any = None,
        tags: Sequence[Mapping[str, str] | None] | None = None,
        ts: Sequence[float | None] | None = None,
    ) -> None:
        """Many predictions: `features` a pandas DataFrame (a row per prediction) or a list
        of dicts; `scores` a rows x classes DataFrame, or a list of dicts; `ts` as in
        `log_prediction` (a missing one: the time of this call)."""
        now = time.time()
        ids, values = [_plain(i) for i in ids], [_plain(v) for v in predictions]
        feature_rows = _rows(features, len(ids))
        score_rows = _rows(scores, len(ids))
        records = [
            _Record(
                record_id, value, now if ts is None or ts[i] is None else ts[i],
                feature_rows[i], score_rows[i],
                None if tags is None else tags[i],
            )
            for i, (record_id, value) in enumerate(zip(ids, values, strict=True))
        ]  # fmt: skip
        self._add_many(True, records)

    def log_labels(self, ids: Iterable[RecordId], values: Iterable[Value]) -> None:
        records = [_Record(_plain(i), _plain(v), None) for i, v in zip(ids, values, strict=True)]
        self._add_many(False, records)

    def _add(self, prediction: bool, record: _Record) -> None:
        # The list is looked up under the lock: the thread swaps it for a new one.
        with self._lock:
            self._check_running()
            if self._waiting + len(self._predictions) + len(self._labels) >= self.max_buffered:
                self._wait_for_room(1)
            queue = self._predictions if prediction else self._labels
            queue.append(record)
            if len(queue) == self.batch_size:
                self._nudge()

    def _add_many(self, prediction: bool, records: list[_Record]) -> None:
        with self._lock:
            self._check_running()
            if self._waiting + len(self._predictions) + len(self._labels) + len(records) > (
                self.max_buffered
            ):
                self._wait_for_room(len(records))
            queue = self._predictions if prediction else self._labels
            queue.extend(records)
            if len(queue) >= self.batch_size:
                self._nudge()

    def _check_running(self) -> None:
        """Under the lock: a record logged after the thread stopped, or after close(), would
        never be published: refuse it."""
        if self._error is not None:
            raise MlmonError(f"mlmon client stopped: {self._error!r}") from self._error
        if self._closing:
            raise MlmonError("mlmon client is closed")

    def _wait_for_room(self, wanted: int) -> None:
        """Under the lock: wait up to max_block for room, else raise BufferFull."""

        def room() -> bool:
            buffered = self._waiting + len(self._predictions) + len(self._labels)
            return buffered + wanted <= self.max_buffered

        if not self._lock.wait_for(room, self.max_block):
            msg = (
                f"mlmon client: {self.max_buffered} records wait unpublished (is the broker at "
                f"{self.settings.broker_url} reachable? published so far: {self.published}); "
                "this record is not logged: raise max_buffered or max_block, or log fewer"
            )
            raise BufferFull(msg)

    def _nudge(self) -> None:
        if self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def _messages(
        self, records: list[_Record], prediction: bool, headers: dict[str, str]
    ) -> list[OutMessage]:
        return _messages_of(self, records, prediction, headers)

    # Flushing and closing.

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every record logged so far is confirmed by the broker."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._nudge()
            while self._predictions or self._labels or self._waiting:
                if self._error is not None:
                    raise MlmonError(f"mlmon client stopped: {self._error!r}") from self._error
                left = deadline - time.monotonic()
                if left <= 0:
                    buffered = len(self._predictions) + len(self._labels) + self._waiting
                    msg = f"mlmon client: {buffered} records still unconfirmed after {timeout}s"
                    raise TimeoutError(msg)
                self._lock.wait(min(left, 0.05))

    def close(self, timeout: float = 30.0) -> None:
        """Publish what is buffered (within `timeout`), then disconnect."""
        if self._closing:
            return
        try:
            self.flush(timeout)
        finally:
            with self._lock:
                self._closing = True
            self._nudge()
            self._thread.join(timeout)

    def __enter__(self) -> Monitor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # The publishing thread.

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._publish_forever(ready))
        except BaseException as error:
            self._error = error
            ready.set()
        finally:
            with self._lock:
                self._lock.notify_all()
            self._loop.close()

    async def _publish_forever(self, ready: threading.Event) -> None:
        self._wake = asyncio.Event()
        bus = RabbitBus(self.settings, "mlmon-client", connect_patience=10.0)
        await bus.connect()  # declares the queues as mlmon's services do, so nothing is lost
        ready.set()
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.flush_interval)
                self._wake.clear()
                with self._lock:
                    predictions, self._predictions = self._predictions, []
                    labels, self._labels = self._labels, []
                    self._waiting = len(predictions) + len(labels)
                    closing = self._closing
                for start in range(0, max(len(predictions), len(labels)), self.batch_size):
                    await self._send(bus, "y_pred", predictions[start : start + self.batch_size])
                    await self._send(bus, "y_true", labels[start : start + self.batch_size])
                if closing and not predictions and not labels:
                    return
        finally:
            await bus.close()

    async def _send(self, bus: RabbitBus, kind: str, records: list[_Record]) -> None:
        if not records:
            return
        queue = self.settings.queue_y_pred if kind == "y_pred" else self.settings.queue_y_true
        headers = {HEADER_MODEL: self.model, HEADER_MODEL_VERSION: self.version}
        # A sharded metric: each message holds one shard's records, and says which.
        messages = [
            message
            for group in shard_groups([r.id for r in records], self.settings.metric_workers)
            for message in self._messages([records[i] for i in group], kind == "y_pred", headers)
        ]
        await bus.publish(queue, messages)
        with self._lock:
            self.published[kind] += len(records)
            self._waiting -= len(records)
            self._lock.notify_all()


def _messages_of(
    monitor: Monitor, records: list[_Record], prediction: bool, headers: dict[str, str]
) -> list[OutMessage]:
    """Arrow messages within MLMON_MAX_MESSAGE_BYTES (a batch over it is halved); a batch
    Arrow cannot type goes as one JSON message per record; a record JSON cannot encode is
    logged by id and left out (the only records the client drops)."""
    try:
        body = _arrow(records, prediction, monitor)
    except Exception as error:
        log.warning("mlmon client: a batch went as single JSON messages (%s)", error)
        singles = []
        for record in records:
            try:
                body = _single(record, prediction, monitor)
                singles.append(OutMessage(body, headers, JSON, key=record_key(record.id)))
            except Exception as bad:
                log.error("mlmon client: record %r cannot be encoded, left out: %s", record.id, bad)
        return singles
    if len(body) > monitor.settings.max_message_bytes and len(records) > 1:
        half = len(records) // 2
        return _messages_of(monitor, records[:half], prediction, headers) + _messages_of(
            monitor, records[half:], prediction, headers
        )
    return [OutMessage(body, headers, ARROW, key=record_key(records[0].id))]


def _arrow(records: list[_Record], prediction: bool, monitor: Monitor) -> bytes:
    """Records as one Arrow message; fails (for the JSON fallback) on mixed value types."""
    ids = [r.id for r in records]
    values = [r.value for r in records]
    ts = [r.ts for r in records] if any(r.ts is not None for r in records) else None
    if not prediction:
        return encode_rows_arrow(ids, values, ts)
    return encode_rows_arrow(
        ids, values, ts,
        tags=[r.tags for r in records] if any(r.tags for r in records) else None,
        scores=[r.scores for r in records] if any(r.scores for r in records) else None,
        features=[r.features for r in records] if any(r.features for r in records) else None,
        model=monitor.model, version=monitor.version,
    )  # fmt: skip


def _single(record: _Record, prediction: bool, monitor: Monitor) -> bytes:
    message: dict[str, Any] = {"id": record.id, "body": record.value}
    if record.ts is not None:
        message["ts"] = record.ts
    if prediction:
        message["model"], message["version"] = monitor.model, monitor.version
        for name in ("features", "scores", "tags"):
            if getattr(record, name):
                message[name] = dict(getattr(record, name))
    return _json.encode(message)


def _plain(value: Any) -> Any:
    """A numpy scalar (an id or label taken from an array) as the Python value JSON takes."""
    return value.item() if isinstance(value, np.generic) else value


def _rows(table: Any, n: int) -> list[Any]:
    """A DataFrame, a list of dicts or None as one dict (or None) per row."""
    if table is None:
        return [None] * n
    if hasattr(table, "to_dict"):  # a pandas DataFrame
        rows: list[Any] = table.to_dict("records")
        for row in rows:  # pandas' missing values as the wire's null
            for key, value in row.items():
                if isinstance(value, float) and math.isnan(value):
                    row[key] = None
    else:
        rows = list(table)
    if len(rows) != n:
        msg = f"{len(rows)} rows of features or scores for {n} predictions"
        raise ValueError(msg)
    return rows
