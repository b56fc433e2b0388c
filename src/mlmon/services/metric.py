"""metric: join `y_true` and `y_pred` by id and append one row per pair to metric_log.csv.

Per batch of deliveries: decode, offer each half to the durable JoinStore, append the joined
rows to the CSV (fsync), commit the store together with the CSV's new end offset, dead-letter
what was rejected, and only then ack. A crash anywhere in between leaves the CSV and the
store agreeing on the last commit; unacked deliveries come back and are joined again once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from mlmon.append_log import AppendLog, Cell
from mlmon.bus import Bus, Delivery
from mlmon.errors import DecodeError
from mlmon.join_store import JoinStore, Offer, Pair, Prediction, Truth, Verdict
from mlmon.services.dead_letters import dead_letter
from mlmon.settings import Settings
from mlmon.status import ServiceStats
from mlmon.wire import (
    HEADER_MODEL,
    HEADER_MODEL_VERSION,
    HEADER_SENT_AT,
    decode_value,
    header_float,
    header_str,
    record_key,
)

log = logging.getLogger("mlmon.metric")

METRIC_LOG = "metric_log.csv"
ORPHAN_LOG = "orphans.csv"
METRIC_COLUMNS = (
    "id",
    "y_true",
    "y_pred",
    "absolute_error",
    "model",
    "model_version",
    "sent_at",
    "joined_at",
)
ORPHAN_COLUMNS = ("id", "kind", "value", "model", "arrived_at", "expired_at")
ORPHANS_LOGGED = 10  # by name per sweep; the rest are counted and in orphans.csv
UNNAMED_MODEL = "unknown"  # predictions from services that do not say (the seeds')


def pair_row(pair: Pair) -> tuple[Cell, ...]:
    return (
        pair.key,
        pair.y_true,
        pair.y_pred,
        pair.absolute_error,
        pair.model,
        pair.version,
        pair.sent_at,
        pair.joined_at,
    )


class MetricService:
    def __init__(self, settings: Settings, bus: Bus, stats: ServiceStats) -> None:
        self.settings = settings
        self.bus = bus
        self.stats = stats
        self.store = JoinStore(settings.state_dir / "join.sqlite", settings.max_label_wait)
        self.metric_log = AppendLog(settings.logs_dir / METRIC_LOG, METRIC_COLUMNS)
        self.orphan_log = AppendLog(settings.logs_dir / ORPHAN_LOG, ORPHAN_COLUMNS)
        self._lock = asyncio.Lock()  # one batch at a time touches the store and the logs

    def __repr__(self) -> str:
        return f"MetricService({self.store!r}, {self.metric_log!r})"

    async def run(self) -> None:
        offsets = {
            METRIC_LOG: self.metric_log.open(self.store.offset(METRIC_LOG)),
            ORPHAN_LOG: self.orphan_log.open(self.store.offset(ORPHAN_LOG)),
        }
        self.store.commit(offsets)
        self._update_gauges()
        self.stats.ready = True
        consumers_done = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._housekeeping(consumers_done))
                async with asyncio.TaskGroup() as consumers:
                    consumers.create_task(self._consume(self.settings.queue_y_true, truth=True))
                    consumers.create_task(self._consume(self.settings.queue_y_pred, truth=False))
                consumers_done.set()
        finally:
            self.metric_log.close()
            self.orphan_log.close()
            self.store.close()

    async def _consume(self, queue: str, truth: bool) -> None:
        linger = self.settings.batch_linger_ms / 1000
        async for batch in self.bus.batches(queue, self.settings.prefetch, linger):
            async with self._lock:
                rejected = self._join(batch, truth)
                if rejected:
                    await dead_letter(self.bus, rejected, self.stats)
                await self.bus.ack(batch)

    def _join(self, batch: list[Delivery], truth: bool) -> list[tuple[Delivery, str]]:
        now = time.time()
        rejected: list[tuple[Delivery, str]] = []
        pairs: list[Pair] = []
        try:
            for delivery in batch:
                try:
                    offer = self._offer(delivery, truth, now)
                except DecodeError as error:
                    rejected.append((delivery, str(error)))
                    continue
                if offer.verdict is Verdict.JOINED:
                    pairs += offer.pairs
                elif offer.verdict is Verdict.CONFLICT:
                    rejected.append((delivery, offer.reason))
                elif offer.verdict is Verdict.DUPLICATE:
                    self.stats.counters["duplicates"] += 1
            offset = self.metric_log.append([pair_row(pair) for pair in pairs])
            self.store.commit({METRIC_LOG: offset})
        except BaseException:
            self.store.rollback()
            raise
        self.stats.counters["joined"] += len(pairs)
        errors = self.stats.gauges
        errors["absolute_error_sum"] = errors.get("absolute_error_sum", 0.0) + sum(
            p.absolute_error for p in pairs
        )
        return rejected

    def _offer(self, delivery: Delivery, truth: bool, now: float) -> Offer:
        if len(delivery.body) > self.settings.max_message_bytes:
            msg = (
                f"message of {len(delivery.body)} bytes exceeds "
                f"MLMON_MAX_MESSAGE_BYTES={self.settings.max_message_bytes}"
            )
            raise DecodeError(msg, delivery.body)
        record = decode_value(delivery.body)
        key = record_key(record.id)
        sent_at = header_float(delivery.headers, HEADER_SENT_AT)
        if truth:
            return self.store.offer_truth(Truth(key, record.value, sent_at, now))
        model = header_str(delivery.headers, HEADER_MODEL) or UNNAMED_MODEL
        version = header_str(delivery.headers, HEADER_MODEL_VERSION)
        return self.store.offer_prediction(
            Prediction(key, record.value, model, version, sent_at, now)
        )

    async def _housekeeping(self, done: asyncio.Event) -> None:
        """Expire orphans and refresh the pending gauges until the consumers stop."""
        sweep_every = min(60.0, self.settings.max_label_wait / 10)
        last_sweep = time.monotonic()
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self.settings.status_interval)
            async with self._lock:
                if time.monotonic() - last_sweep >= sweep_every:
                    self._expire(time.time())
                    last_sweep = time.monotonic()
                self._update_gauges()

    def _expire(self, now: float) -> None:
        try:
            orphans = self.store.expire(now)
            offset = self.orphan_log.append(
                [(o.key, o.kind, o.value, o.model, o.arrived_at, now) for o in orphans]
            )
            self.store.commit({ORPHAN_LOG: offset})
        except BaseException:
            self.store.rollback()
            raise
        for orphan in orphans[:ORPHANS_LOGGED]:
            log.warning(
                "orphan: %s %r never met its partner within %.0fs",
                orphan.kind,
                orphan.key,
                self.settings.max_label_wait,
            )
        if len(orphans) > ORPHANS_LOGGED:
            extra = len(orphans) - ORPHANS_LOGGED
            log.warning("... and %d more orphans, all in %s", extra, self.orphan_log.path)
        self.stats.counters["orphans"] += len(orphans)

    def _update_gauges(self) -> None:
        for kind, count in self.store.pending().items():
            self.stats.gauges[f"pending_{kind}"] = count
