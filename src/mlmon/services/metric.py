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
import math
import re
import time
from typing import Any, cast

from mlmon.alerting import Alerting
from mlmon.append_log import AppendLog, format_rows, needs_quotes
from mlmon.bus import Bus, Delivery
from mlmon.errors import DecodeError
from mlmon.join_store import JoinStore, Pair, Prediction, Truth, Verdict
from mlmon.log_layout import METRIC_COLUMNS, METRIC_LOG, ORPHAN_COLUMNS, ORPHAN_LOG
from mlmon.monitors import LiveQuality
from mlmon.services.dead_letters import Rejected, dead_letter, too_large
from mlmon.settings import Settings
from mlmon.status import ServiceStats
from mlmon.telemetry import Telemetry
from mlmon.wire import (
    HEADER_MODEL,
    HEADER_MODEL_VERSION,
    Records,
    decode_records,
    header_sent_at,
    header_str,
    record_key,
)

log = logging.getLogger("mlmon.metric")

ORPHANS_LOGGED = 10  # by name per sweep; the rest are counted and in orphans.csv
UNNAMED_MODEL = "unknown"
_NEEDS_QUOTING = re.compile(r'[,"\r\n]')  # predictions from services that do not say (the seeds')


def metric_lines(pairs: list[Pair], classification: bool = False) -> str:
    """CSV lines for pairs: a plain f-string per row, several times faster than the generic
    formatter, which takes over when an id or model name needs quoting. For classification the
    error column holds 0/1 (wrong label) instead of |y_true - y_pred|."""
    errors = (
        [float(p.y_true != p.y_pred) for p in pairs]
        if classification
        else [p.absolute_error for p in pairs]
    )
    if any(needs_quotes(f"{p.key}{p.model}{p.version}") for p in pairs):
        return format_rows(
            [
                (p.key, p.y_true, p.y_pred, e, p.model, p.version, p.sent_at, p.joined_at)
                for p, e in zip(pairs, errors, strict=True)
            ]
        )
    return "".join(
        f"{p.key},{p.y_true!r},{p.y_pred!r},{e!r},{p.model},{p.version},"
        f"{'' if p.sent_at is None else repr(p.sent_at)},{p.joined_at!r}\n"
        for p, e in zip(pairs, errors, strict=True)
    )


class MetricService:
    def __init__(
        self, settings: Settings, bus: Bus, stats: ServiceStats, telemetry: Telemetry | None = None
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.stats = stats
        self.telemetry = telemetry
        self.quality = LiveQuality(settings)
        self.alerting = Alerting.for_service(settings, stats)
        if telemetry is not None:
            telemetry.registry.register(self.quality)
            if self.alerting is not None:
                telemetry.registry.register(self.alerting)
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

    def _join(self, batch: list[Delivery], truth: bool) -> list[Rejected]:
        """Offer every record of the batch to the store at once; write the rows; commit."""
        rejected: list[Rejected] = []
        halves, origins = self._halves(batch, truth, time.time(), rejected)
        try:
            if truth:
                offers = self.store.offer_truths(cast(list[Truth], halves))
            else:
                offers = self.store.offer_predictions(cast(list[Prediction], halves))
            pairs: list[Pair] = []
            for (delivery, records, index), offer in zip(origins, offers, strict=True):
                if offer.verdict is Verdict.JOINED:
                    pairs += offer.pairs
                elif offer.verdict is Verdict.CONFLICT:
                    rejected.append(Rejected.row(delivery, records, index, offer.reason))
                elif offer.verdict is Verdict.DUPLICATE:
                    self.stats.counters["duplicates"] += 1
            offset = self.metric_log.append_text(
                metric_lines(pairs, self.settings.task == "classification")
            )
            self.store.commit({METRIC_LOG: offset})
        except BaseException:
            self.store.rollback()
            raise
        self.stats.counters["joined"] += len(pairs)
        self.quality.add(pairs)
        if self.telemetry is not None:
            self.telemetry.observe(pairs)
        return rejected

    def _halves(
        self, batch: list[Delivery], truth: bool, now: float, rejected: list[Rejected]
    ) -> tuple[list[Truth | Prediction], list[tuple[Delivery, Records, int]]]:
        """Every usable record of the batch as a half, with where it came from."""
        halves: list[Truth | Prediction] = []
        origins: list[tuple[Delivery, Records, int]] = []
        for delivery in batch:
            records = self._decode(delivery, rejected)
            if records is None:
                continue
            model = header_str(delivery.headers, HEADER_MODEL) or UNNAMED_MODEL
            version = header_str(delivery.headers, HEADER_MODEL_VERSION)
            values, stamps = records.values.tolist(), records.sent_at.tolist()
            for index, (record_id, value, stamp) in enumerate(
                zip(records.ids, values, stamps, strict=True)
            ):
                if not math.isfinite(value):  # only a batch can carry one
                    reason = f"record {record_id!r}: non-finite value (NaN or Infinity)"
                    rejected.append(Rejected.row(delivery, records, index, reason))
                    continue
                key = record_key(record_id)
                sent_at = None if math.isnan(stamp) else stamp
                halves.append(
                    Truth(key, value, sent_at, now)
                    if truth
                    else Prediction(key, value, model, version, sent_at, now)
                )
                origins.append((delivery, records, index))
        return halves, origins

    def _decode(self, delivery: Delivery, rejected: list[Rejected]) -> Records | None:
        """The delivery's records, or None after rejecting the whole message."""
        reason = too_large(delivery, self.settings.max_message_bytes)
        if reason is None:
            try:
                sent_at = header_sent_at(delivery.headers)
                return decode_records(delivery.body, delivery.content_type, False, sent_at)
            except DecodeError as error:
                reason = str(error)
        rejected.append(Rejected.message(delivery, reason))
        return None

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
                now = time.time()
                # The live figures, for `mlmon report` without re-reading the log.
                quality = {
                    model: {window: figures.to_dict() for window, figures in windows.items()}
                    for model, windows in self.quality.snapshot(now).items()
                }
                self.stats.details["quality"] = quality
            if self.alerting is not None:
                await self.alerting.check(self._signals(quality), now)

    def _signals(
        self, quality: dict[str, dict[str, dict[str, Any]]]
    ) -> dict[str, dict[str, float]]:
        """Per model `mae[last_500]`-style figures, and the service's own under ""."""
        signals: dict[str, dict[str, float]] = {
            model: {
                f"{name}[{window}]": float(value)
                for window, figures in windows.items()
                for name, value in figures.items()
                if isinstance(value, int | float)
            }
            for model, windows in quality.items()
        }
        signals[""] = {**self.stats.gauges, **{k: float(v) for k, v in self.stats.counters.items()}}
        return signals

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
        self.stats.counters["orphaned_predictions"] += sum(o.kind == "y_pred" for o in orphans)

    def _update_gauges(self) -> None:
        for kind, count in self.store.pending().items():
            self.stats.gauges[f"pending_{kind}"] = count
        joined = self.stats.counters["joined"]
        predicted = (
            joined
            + self.stats.gauges["pending_y_pred"]
            + self.stats.counters["orphaned_predictions"]
        )
        if predicted:  # share of this process's predictions that met their true value
            self.stats.gauges["label_coverage"] = joined / predicted
