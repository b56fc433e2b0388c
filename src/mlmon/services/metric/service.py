"""metric: join `y_true` and `y_pred` by id and append one row per pair to metric_log.csv.

Per batch of deliveries: decode, offer mlmon's own named batches to the BatchJoin (a batch of
true values meets a batch of predictions as a whole) and every other record to the HotJoin (one
by one), both in memory first and checked against the durable JoinStore; append the joined rows
to the CSV (fsync), commit the store together with the CSV's new end offset, dead-letter what
was rejected, and only then ack. A batch whose halves still wait for their partner is held
unacked for up to HOLD_SECONDS, so that a partner arriving meanwhile joins in memory; when it is
released its waiting halves go to the store, committed before the ack. A crash anywhere in
between leaves the CSV and the store agreeing on the last commit; unacked deliveries come back
and are joined again once.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from mlmon.arrays import Floats
from mlmon.bus import CONSUMER_LINGER, Bus, Delivery
from mlmon.errors import DecodeError
from mlmon.join.batches import BatchHalf, BatchJoin, batch_keys, digest
from mlmon.join.joined import Joined
from mlmon.join.records import Held, HotJoin, Outcome
from mlmon.join.store import JoinStore, Orphan
from mlmon.metric_log.append import AppendLog, float_rows, format_rows, needs_quotes
from mlmon.metric_log.layout import METRIC_COLUMNS, METRIC_LOG, ORPHAN_COLUMNS, ORPHAN_LOG
from mlmon.monitoring.quality import regression_figures
from mlmon.ops.alert_actions import Alerting
from mlmon.ops.monitors import LiveQuality
from mlmon.ops.status import ServiceStats
from mlmon.ops.telemetry import Telemetry
from mlmon.services.dead_letters import Rejected, dead_letter, too_large
from mlmon.settings import Settings
from mlmon.wire import (
    BATCH,
    HEADER_BATCH,
    HEADER_MODEL,
    HEADER_MODEL_VERSION,
    Records,
    ValueRecord,
    decode_records,
    decode_value,
    encode_batch,
    header_sent_at,
    header_str,
    record_key,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

ORPHANS_LOGGED = 10  # by name per sweep; the rest are counted and in orphans.csv
UNNAMED_MODEL = "unknown"  # predictions from services that do not say (the seeds')
# How long a batch may stay unacked while its halves wait in memory for their partner: the
# model answers within milliseconds, so almost every half joins before this and never touches
# the store's pending tables. Far below RabbitMQ's consumer_timeout.
HOLD_SECONDS = 0.2
# Share of the prefetch window one queue may hold unacked before its oldest halves go to the
# store. Three quarters: flat out, the true values' consumer starts ahead of the predictions'
# (they come a model's latency later) and stays as far ahead; holding half the window, two
# thirds of the batches of a 1M-record run were written to the store and read back to be
# joined (330 of 500). Not all of it: when partners come late (labels hours behind), a full
# window would let the broker deliver only one window per HOLD_SECONDS, and the backlog would
# pile up in the queue; the free quarter keeps deliveries flowing.
HELD_SHARE_OF_PREFETCH = 0.75


def metric_lines(joined: Joined, classification: bool = False) -> str:
    """CSV lines for joined records: the three number columns formatted in one C-level pass
    (`float_rows`), and a whole batch's shared cells (model, version, send and join time)
    once, as the separator of its lines. The generic formatter takes over when an id or a
    model name needs quoting. For classification the error column holds 0/1 (wrong label)
    instead of |y_true - y_pred|."""
    if not joined:
        return ""
    parts = joined.parts()
    y_true, y_pred = joined.column("y_true"), joined.column("y_pred")
    with np.errstate(over="ignore", invalid="ignore"):  # inf, as Python's abs(t - p) gives
        errors = (y_true != y_pred if classification else np.abs(y_true - y_pred)).astype(
            np.float64
        )
    names: set[str] = set()
    for part in parts:
        if part.model is not None and part.version is not None:
            names.update((part.model, part.version))
        else:
            names.update((*part.models, *part.versions))
    keys_text = "".join("".join(part.keys) for part in parts)
    if any(needs_quotes(text) for text in names) or needs_quotes(keys_text):
        columns = (
            joined.keys,
            y_true.tolist(),
            y_pred.tolist(),
            errors.tolist(),
            joined.models,
            joined.versions,
            joined.sent_at,
            joined.joined_at,
        )
        return format_rows(list(zip(*columns, strict=True)))
    numbers = float_rows((y_true, y_pred, errors))  # "y_true,y_pred,absolute_error" per row
    pieces, done = [], 0
    for part in parts:
        number_cells = numbers[done : done + len(part)]
        done += len(part)
        if part.one_send_time:  # a batch: model, version, send and join time on every line
            sent = "" if part.sent_once is None else repr(part.sent_once)
            tail = f",{part.model},{part.version},{sent},{float(part.joined_at[0])!r}\n"
            pieces.append(tail.join(map(",".join, zip(part.keys, number_cells, strict=True))))
            pieces.append(tail)
            continue
        times = (_time_cells(part.sent_at), _time_cells(part.joined_at))
        lines = zip(part.keys, number_cells, part.models, part.versions, *times, strict=True)
        pieces.append("\n".join(map(",".join, lines)) + "\n")
    return "".join(pieces)


def _time_cells(values: Floats) -> list[str]:
    """Cells of a time column, NaN as an empty cell (an unknown time; a NaN that came as a
    time is taken as unknown too). Rows joined together share their times, so each distinct
    value is formatted once: `set` keeps the very NaN objects of the column, and a dict looks
    a key up by identity before equality, so NaN keys are found."""
    column: list[float] = values.tolist()
    text = {value: "" if math.isnan(value) else repr(value) for value in set(column)}
    if 0.0 in text:  # 0.0 and -0.0 are one key but two texts (times are never zero anyway)
        return ["" if math.isnan(value) else repr(value) for value in column]
    return list(map(text.__getitem__, column))


async def _in_thread(executor: Executor, function: Callable[..., T], *args: Any) -> T:
    """Run a blocking call in `executor`; if the caller is cancelled meanwhile (even more than
    once), the call still finishes before the cancellation goes on: it holds the log or the
    store, which the caller's clean-up touches next."""
    call = asyncio.get_running_loop().run_in_executor(executor, function, *args)
    cancelled = False
    while not call.done():
        try:
            await asyncio.shield(call)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        call.exception()  # retrieved: its error, if any, goes with the cancellation
        raise asyncio.CancelledError
    return call.result()


def _finite_rows(
    delivery: Delivery, records: Records, rejected: list[Rejected]
) -> list[int] | None:
    """The rows with a finite value (None: all of them); the others are rejected."""
    if bool(np.isfinite(records.values).all()):  # only a batch can carry a non-finite one
        return None
    kept = []
    for index, (record_id, value) in enumerate(
        zip(records.ids, records.values.tolist(), strict=True)
    ):
        if math.isfinite(value):
            kept.append(index)
        else:
            reason = f"record {record_id!r}: non-finite value (NaN or Infinity)"
            rejected.append(Rejected.row(delivery, records, index, reason))
    return kept


class _Halves:
    """A batch's usable records, column-wise, and which delivery and row each came from."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.values: list[float] = []
        self.sent_at: list[float | None] = []
        self.models: list[str] = []
        self.versions: list[str] = []
        # Per delivery: its first half's position, the delivery, its records, and the rows it
        # kept (None: all of them); conflicts are rare, so they are located by bisection.
        self._starts: list[int] = []
        self._origins: list[tuple[Delivery, Records | ValueRecord, list[int] | None]] = []

    def add_one(
        self, delivery: Delivery, record: ValueRecord, sent_at: float | None, model: str,
        version: str,
    ) -> None:  # fmt: skip
        """A single-record message (finite: decode_value refuses NaN and Infinity), without
        numpy: per record, its calls cost more than the rest of this."""
        self._starts.append(len(self.keys))
        self._origins.append((delivery, record, None))
        self.keys.append(record_key(record.id))
        self.values.append(record.value)
        self.sent_at.append(sent_at)
        self.models.append(model)
        self.versions.append(version)

    def add(
        self,
        delivery: Delivery,
        records: Records,
        model: str,
        version: str,
        rejected: list[Rejected],
    ) -> None:
        values = records.values
        kept = _finite_rows(delivery, records, rejected)
        if kept == []:
            return
        ids = records.ids if kept is None else [records.ids[i] for i in kept]
        stamps = records.sent_at if kept is None else records.sent_at[kept]
        self._starts.append(len(self.keys))
        self._origins.append((delivery, records, kept))
        self.keys += [record_key(record_id) for record_id in ids]
        self.values += (values if kept is None else values[kept]).tolist()
        if bool(np.isnan(stamps).any()):
            self.sent_at += [None if math.isnan(s) else s for s in stamps.tolist()]
        else:
            self.sent_at += stamps.tolist()
        self.models += [model] * len(ids)
        self.versions += [version] * len(ids)

    def origin(self, position: int) -> tuple[Delivery, Records, int]:
        """The delivery, records and row of the half at `position`."""
        which = bisect.bisect_right(self._starts, position) - 1
        delivery, records, kept = self._origins[which]
        row = position - self._starts[which]
        if isinstance(records, ValueRecord):  # a single record: decoded again, only for this
            records = decode_records(
                delivery.body, delivery.content_type, False, self.sent_at[position]
            )
        return delivery, records, row if kept is None else kept[row]


Whole = tuple[Delivery, BatchHalf, list[Rejected]]  # a batch to join whole, its refused rows


@dataclass(slots=True)
class _Prepared:
    """A batch of deliveries decoded and checked: what needs neither the store nor the logs."""

    truth: bool
    arrived_at: float
    halves: _Halves = field(default_factory=_Halves)  # records to join one by one
    whole: list[Whole] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)  # to dead-letter


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
        self.join = HotJoin(self.store)
        self.batches = BatchJoin(self.store)
        self._named_truths = False  # true values came in named batches
        self._warned_unnamed = False
        self.metric_log = AppendLog(settings.logs_dir / METRIC_LOG, METRIC_COLUMNS)
        self.orphan_log = AppendLog(settings.logs_dir / ORPHAN_LOG, ORPHAN_COLUMNS)
        self._lock = asyncio.Lock()  # one batch at a time touches the store and the logs
        # The thread that appends to the CSV and commits the store for `_join` (their fsyncs
        # must not stall the event loop); its own, so that other work in the default pool
        # (alert webhooks, renders) never keeps a commit, and with it the lock, waiting.
        self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlmon-metric-disk")
        # Batches not yet acked, per queue, oldest first: acks go out in delivery order.
        self._held: dict[str, deque[Held]] = {
            settings.queue_y_true: deque(),
            settings.queue_y_pred: deque(),
        }
        self._max_held = int(settings.consumer_prefetch * HELD_SHARE_OF_PREFETCH)

    def __repr__(self) -> str:
        return f"MetricService({self.store!r}, {self.metric_log!r})"

    async def run(self) -> None:
        offsets = {
            METRIC_LOG: self.metric_log.open(self.store.offset(METRIC_LOG)),
            ORPHAN_LOG: self.orphan_log.open(self.store.offset(ORPHAN_LOG)),
        }
        self.store.commit(offsets)
        self._update_gauges()
        # numpy imports its quantile machinery on first use (~80 ms): pay it before the first
        # records, not while they wait.
        regression_figures(np.zeros(2), np.ones(2))
        self.stats.ready = True
        consumers_done = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._housekeeping(consumers_done))
                group.create_task(self._release_when_due(consumers_done))
                async with asyncio.TaskGroup() as consumers:
                    consumers.create_task(self._consume(self.settings.queue_y_true, truth=True))
                    consumers.create_task(self._consume(self.settings.queue_y_pred, truth=False))
                consumers_done.set()
        finally:
            self._disk.shutdown(wait=True)
            self.metric_log.close()
            self.orphan_log.close()
            self.store.close()

    async def _consume(self, queue: str, truth: bool) -> None:
        async for batch in self.bus.batches(
            queue, self.settings.consumer_prefetch, CONSUMER_LINGER
        ):
            # Decoding and checking touch neither the store nor the logs: they run while the
            # other queue's batch holds the lock waiting for its fsyncs, and so does the
            # quality bookkeeping after the lock.
            prepared = self._prepare(batch, truth)
            async with self._lock:
                joined, released = await self._join(batch, queue, prepared)
                written_at = time.time()  # the rows are durable: their latency ends here
                if prepared.rejected:
                    await dead_letter(self.bus, prepared.rejected, self.stats)
                await self._ack(released)
            self._observe(joined, written_at)
        async with self._lock:  # stopping: nothing of ours stays unacked
            await self._ack(self._release(math.inf, everything=True))

    async def _release_when_due(self, done: asyncio.Event) -> None:
        """Release held batches whose time is up, when no new batch does it first."""
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), HOLD_SECONDS / 4)
            async with self._lock:
                await self._ack(self._release(time.monotonic()))

    async def _ack(self, released: list[Held]) -> None:
        for held in released:
            await self.bus.ack(held.deliveries)

    async def _join(
        self, batch: list[Delivery], queue: str, prepared: _Prepared
    ) -> tuple[Joined, list[Held]]:
        """Offer every record of the batch at once; write the rows; release what may go;
        commit. Returns the rows joined and the held batches now safe to ack; adds what to
        dead-letter to `prepared.rejected`.

        The two fsyncs (the CSV's and the store's commit) of a backlog's batch wait in
        a thread: meanwhile the event loop goes on reading deliveries, which the next call then
        takes together, so the slower the disk, the larger the batches (a group commit;
        1,000,000 records went ~20 % slower without it). Otherwise the loop is keeping up:
        the fsyncs run here, because a trip to the thread cost more than it saved
        (at 1,000 records/s, 2.8 against 1.5 ms at the median from the lock to durable rows,
        11 against 6 ms at p99: the thread waits for the GIL, up to its 5 ms switch interval,
        whenever the loop is busy). The rarer commits of held batches released by time and of
        expired orphans stay on the event loop too."""
        halves, truth, now, rejected = (
            prepared.halves, prepared.truth, prepared.arrived_at, prepared.rejected
        )  # fmt: skip
        clock = time.monotonic()
        held = Held(batch, clock + HOLD_SECONDS)
        orphans: list[Orphan] = []
        try:
            outcome = Outcome()
            if halves.keys and truth:
                outcome = self.join.offer_truths(
                    halves.keys, halves.values, halves.sent_at, now, held
                )
            elif halves.keys:
                outcome = self.join.offer_predictions(
                    halves.keys,
                    halves.values,
                    halves.models,
                    halves.versions,
                    halves.sent_at,
                    now,
                    held,
                )
            offer = self.batches.offer_truth if truth else self.batches.offer_prediction
            for delivery, half, bad_rows in prepared.whole:
                offered = offer(half, held, outcome.joined)
                outcome.duplicates += offered.duplicates
                orphans += offered.orphans
                if offered.conflict is not None:  # the whole message, bad rows included
                    rejected.append(Rejected.message(delivery, offered.conflict))
                else:
                    rejected += bad_rows
            self._held[queue].append(held)
            backlog = self._backlog(queue)  # before the release acks some of the window
            text = metric_lines(outcome.joined, self.settings.task == "classification")
            offsets = {ORPHAN_LOG: self._write_orphans(orphans, now)} if orphans else {}
            released = self._release(clock, commit=False)
            # One write, and none when there is nothing to write (true values waiting for
            # their predictions).
            if text or self.store.changed(offsets):
                if backlog:
                    await _in_thread(self._disk, self._write_rows, text, offsets)
                else:
                    self._write_rows(text, offsets)
        except BaseException:
            self.store.rollback()
            raise
        for position, reason in outcome.conflicts:
            rejected.append(Rejected.row(*halves.origin(position), reason))
        self.stats.counters["duplicates"] += outcome.duplicates
        self.stats.counters["joined"] += len(outcome.joined)
        self._report_orphans(orphans, "is missing from its true values' batch (refused there)")
        return outcome.joined, released

    def _backlog(self, queue: str) -> bool:
        """Whether the rows wait for their fsyncs in the disk thread: in single-record mode
        and in the embedded mode (always), when the queue's unacked deliveries (this batch and
        the held ones) fill the prefetch window, or when a window's worth is ready in the
        broker (its depth, polled each status interval). Written on the loop, which reads
        nothing meanwhile, single records come in small batches that stay small: flat out
        they went from ~1,700 to 1,100-1,300 records/s on the development VM. Embedded, the
        loop is the features' and the model's too."""
        prefetch = self.settings.consumer_prefetch
        unacked = sum(len(held.deliveries) for held in self._held[queue])
        return (
            not self.settings.batched
            or self.settings.embedded
            or unacked >= prefetch
            or self.stats.queue_depths.get(queue, 0) >= prefetch
        )

    def _write_rows(self, text: str, offsets: dict[str, int]) -> None:
        """The rows, durably, then the store's changes with the log's new end (both wait for
        an fsync)."""
        self.store.commit({**offsets, METRIC_LOG: self.metric_log.append_text(text)})

    def _release(self, clock: float, everything: bool = False, commit: bool = True) -> list[Held]:
        """Take, oldest first per queue, the held batches whose halves all joined, whose time
        is up, or that exceed the share of the prefetch window; their waiting halves go to
        the store (committed unless the caller commits)."""
        released: list[Held] = []
        for queue_held in self._held.values():
            count = sum(len(held.deliveries) for held in queue_held)
            while queue_held:
                oldest = queue_held[0]
                due = oldest.waiting == 0 or oldest.deadline <= clock or count > self._max_held
                if not (due or everything):
                    break
                queue_held.popleft()
                count -= len(oldest.deliveries)
                if oldest.waiting:
                    self.join.persist(oldest)
                    self.batches.persist(oldest)
                    self.stats.counters["held_to_store"] += 1
                released.append(oldest)
        if commit and released:
            try:
                self.store.commit({})
            except BaseException:
                self.store.rollback()
                raise
        return released

    def _observe(self, joined: Joined, written_at: float) -> None:
        """The rows' errors into the live quality windows and the Prometheus histograms."""
        if joined:
            self.quality.add(joined)
            if self.telemetry is not None:
                self.telemetry.observe(joined, written_at)

    def _prepare(self, batch: list[Delivery], truth: bool) -> _Prepared:
        """Every usable record of the batch: records to join one by one, column-wise, with
        where they came from; and whole batches of mlmon's own, to join as a whole, each with
        its refused rows (unless the whole message is refused)."""
        prepared = _Prepared(truth, time.time())
        halves, whole, rejected, now = (
            prepared.halves, prepared.whole, prepared.rejected, prepared.arrived_at
        )  # fmt: skip
        for delivery in batch:
            records = self._decode(delivery, rejected)
            if records is None:
                continue
            if truth:
                model = version = ""
            else:
                model = header_str(delivery.headers, HEADER_MODEL) or UNNAMED_MODEL
                version = header_str(delivery.headers, HEADER_MODEL_VERSION)
            if isinstance(records, ValueRecord):
                sent_at = header_sent_at(delivery.headers)
                halves.add_one(delivery, records, sent_at, model, version)
                continue
            name = header_str(delivery.headers, HEADER_BATCH)
            keys = batch_keys(records.ids) if name and delivery.content_type == BATCH else None
            if keys is None:
                if delivery.content_type == BATCH:
                    self._unnamed_batch(truth, named=bool(name))
                halves.add(delivery, records, model, version, rejected)
                continue
            if truth:
                self._named_truths = True
            bad_rows: list[Rejected] = []
            kept = _finite_rows(delivery, records, bad_rows)
            if kept == []:
                rejected += bad_rows
                continue
            body, message = delivery.body, digest(delivery.body)
            if kept is not None:
                records = Records(
                    [records.ids[i] for i in kept], records.values[kept], records.sent_at[kept]
                )
                keys = [keys[i] for i in kept]
                body = encode_batch(records.ids, records.values, records.sent_at)
            half = BatchHalf(
                name, keys, records.values, records.sent_at, body, message, now, model, version
            )
            whole.append((delivery, half, bad_rows))
        return prepared

    def _unnamed_batch(self, truth: bool, named: bool) -> None:
        """Count a batch joined record by record (no batch name, or a repeated id), and warn
        once when predictions come unnamed while true values come named: those two paths do
        not meet (a model from before batch names, or one that drops the header)."""
        self.stats.counters["batches_joined_by_record"] += 1
        if truth or named or not self._named_truths or self._warned_unnamed:
            return
        self._warned_unnamed = True
        log.warning(
            "predictions arrive in batches without the %s header while true values carry it: "
            "they cannot meet and will end as orphans; the model service must copy the header "
            "from its features batch (mlmon's does)",
            HEADER_BATCH,
        )

    def _decode(self, delivery: Delivery, rejected: list[Rejected]) -> Records | ValueRecord | None:
        """The delivery's records (a batch), or its one record (the single form), or None
        after rejecting the whole message."""
        reason = too_large(delivery, self.settings.max_message_bytes)
        if reason is None:
            try:
                if delivery.content_type != BATCH:
                    return decode_value(delivery.body)
                return decode_records(delivery.body, delivery.content_type, False)
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
            # The live figures, for `mlmon report` without re-reading the log (they have a
            # lock of their own: a batch may be written meanwhile).
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
            orphans = self.store.expire(now) + self.batches.expire(now)
            self.store.commit({ORPHAN_LOG: self._write_orphans(orphans, now)})
        except BaseException:
            self.store.rollback()
            raise
        self._report_orphans(orphans)

    def _write_orphans(self, orphans: list[Orphan], now: float) -> int:
        """Append orphans to orphans.csv; return its new end offset, to commit."""
        return self.orphan_log.append(
            [(o.key, o.kind, o.value, o.model, o.arrived_at, now) for o in orphans]
        )

    def _report_orphans(self, orphans: list[Orphan], why: str = "") -> None:
        why = why or f"never met its partner within {self.settings.max_label_wait:.0f}s"
        for orphan in orphans[:ORPHANS_LOGGED]:
            log.warning("orphan: %s %r %s", orphan.kind, orphan.key, why)
        if len(orphans) > ORPHANS_LOGGED:
            extra = len(orphans) - ORPHANS_LOGGED
            log.warning("... and %d more orphans, all in %s", extra, self.orphan_log.path)
        self.stats.counters["orphans"] += len(orphans)
        self.stats.counters["orphaned_predictions"] += sum(o.kind == "y_pred" for o in orphans)

    def _update_gauges(self) -> None:
        in_memory = self.batches.waiting()
        for kind, count in self.join.pending().items():
            self.stats.gauges[f"pending_{kind}"] = count + in_memory[kind]
        joined = self.stats.counters["joined"]
        predicted = (
            joined
            + self.stats.gauges["pending_y_pred"]
            + self.stats.counters["orphaned_predictions"]
        )
        if predicted:  # share of this process's predictions that met their true value
            self.stats.gauges["label_coverage"] = joined / predicted
