"""metric: join `y_true` and `y_pred` by id and append one row per pair to metric_log.csv.

Per batch of deliveries: decode and offer them to the join (`intake`), both in memory first and
checked against the durable JoinStore; then `MetricService._checkpoint` makes the batch's work
durable and settles it with the broker, in order: append the rows to the CSV (fsync), commit
the store together with the CSV's new end offset, dead-letter what was rejected, and only then
ack. A batch whose halves still wait for their partner is held unacked for a moment
(`holding`), so that a partner arriving meanwhile joins in memory; when it is released its
waiting halves go to the store, committed before the ack. A crash anywhere in between leaves
the CSV and the store agreeing on the last commit; unacked deliveries come back and are joined
again once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import numpy as np

from mlmon.bus import CONSUMER_LINGER, Bus, Delivery
from mlmon.join.batches import BatchJoin
from mlmon.join.counts import STORE_FILE
from mlmon.join.held import Held
from mlmon.join.joined import Joined
from mlmon.join.records import Outcome, RecordJoin
from mlmon.join.store import JoinStore, Orphan
from mlmon.metric_log.append import AppendLog
from mlmon.metric_log.layout import METRIC_COLUMNS, METRIC_LOG, ORPHAN_COLUMNS, ORPHAN_LOG
from mlmon.metric_log.lines import metric_lines, orphan_rows
from mlmon.monitoring.quality import regression_figures
from mlmon.ops.alert_actions import Alerting
from mlmon.ops.monitors import LiveQuality
from mlmon.ops.status import ServiceStats
from mlmon.ops.telemetry import Telemetry
from mlmon.services.dead_letters import Rejected, dead_letter
from mlmon.services.metric.arrow_halves import arrow_extras
from mlmon.services.metric.drift_feed import DriftFeed
from mlmon.services.metric.estimation import MetricEstimation
from mlmon.services.metric.holding import HOLD_SECONDS, Holding, report_orphans, sweep_every
from mlmon.services.metric.intake import Intake, Prepared, offer
from mlmon.settings import Settings
from mlmon.wire import Y_PRED, Y_TRUE
from mlmon.wire.labels import MAX_LABELS, cell, known_labels, labels_after, remember

log = logging.getLogger(__name__)
T = TypeVar("T")

# Why the orphans a batch of predictions brings are orphans at once.
MISSING_FROM_BATCH = "is missing from its true values' batch (refused there)"


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


@dataclass(slots=True)
class _Turn:
    """What one turn of the service (a batch of deliveries, a timed release, an expiry sweep)
    leaves to `_checkpoint`: to write, commit, count, dead-letter and ack."""

    rows: str = ""  # metric_log.csv lines
    orphans: list[Orphan] = field(default_factory=list)  # for orphans.csv
    orphaned_at: float = 0.0  # their expired_at
    why: str | None = None  # why they are orphans, to report them; None: nothing to report
    outcome: Outcome | None = None  # a batch's join: its rows and duplicates to count
    rejected: list[Rejected] = field(default_factory=list)  # to dead-letter
    released: list[Held] = field(default_factory=list)  # to ack
    in_thread: bool = False  # wait for the fsyncs in the disk thread


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
        self.store = JoinStore(settings.state_dir / STORE_FILE, settings.max_label_wait)
        self.records = RecordJoin(self.store)
        remember(self.store.labels())  # the labels of halves that waited on disk
        self._predicted: set[float] = set()  # the classes the model has predicted
        self._unpredicted: set[float] = set()  # true classes it has not, already logged
        self._labels_saved = len(known_labels())
        self.batches = BatchJoin(
            self.store, partial(arrow_extras, segment=settings.segment_feature_names)
        )
        self.intake = Intake(settings, stats)
        self.drift = DriftFeed(settings, stats, self.alerting, telemetry)
        self.estimation = MetricEstimation(settings, stats)
        self.holding = Holding(
            (settings.queue_y_true, settings.queue_y_pred),
            settings.consumer_prefetch,
            self.records,
            self.batches,
            stats,
        )
        self.metric_log = AppendLog(settings.logs_dir / METRIC_LOG, METRIC_COLUMNS)
        self.orphan_log = AppendLog(settings.logs_dir / ORPHAN_LOG, ORPHAN_COLUMNS)
        self._lock = asyncio.Lock()  # one batch at a time touches the store and the logs
        # The thread that appends to the CSV and commits the store for `_checkpoint` (their
        # fsyncs must not stall the event loop); its own, so that other work in the default
        # pool (alert webhooks, renders) never keeps a commit, and with it the lock, waiting.
        self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlmon-metric-disk")

    def __repr__(self) -> str:
        return f"MetricService({self.store!r}, {self.metric_log!r})"

    async def run(self) -> None:
        offsets = {
            METRIC_LOG: self.metric_log.open(self.store.offset(METRIC_LOG)),
            ORPHAN_LOG: self.orphan_log.open(self.store.offset(ORPHAN_LOG)),
        }
        self.store.commit(offsets)
        self._update_gauges()
        # numpy imports its quantile machinery on first use, which takes a while: pay it
        # before the first records, not while they wait.
        regression_figures(np.zeros(2), np.ones(2))
        await self.estimation.start(self.telemetry)
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
            await self.drift.close()
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
            prepared = self.intake.prepare(batch, truth)
            halves = prepared.halves
            if halves.feature_rows or halves.feature_columns:
                model = halves.models[0] if halves.models else halves.feature_model or "unknown"
                try:  # drift is a side view: it must never stop the join
                    self.drift.add(halves.feature_rows, halves.feature_columns, model)
                except Exception:
                    log.exception("drift could not take a batch's features; left out")
            try:  # estimation is a side view too
                self.estimation.estimate(prepared)
            except Exception:
                log.exception("estimation could not take a batch; its predictions unestimated")
                self.stats.counters["not_estimated"] += len(halves.keys)
            async with self._lock:
                joined, written_at = await self._join(batch, queue, prepared)
            self._observe(joined, written_at)
        async with self._lock:  # stopping: nothing of ours stays unacked
            await self._checkpoint(_Turn(released=self.holding.release(math.inf, everything=True)))

    async def _release_when_due(self, done: asyncio.Event) -> None:
        """Release held batches whose time is up, when no new batch does it first."""
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), HOLD_SECONDS / 4)
            async with self._lock:
                await self._checkpoint(_Turn(released=self.holding.release(time.monotonic())))

    async def _join(
        self, batch: list[Delivery], queue: str, prepared: Prepared
    ) -> tuple[Joined, float]:
        """Offer every record of the batch at once; hold the batch; release what may go;
        checkpoint. Returns the rows joined and when they became durable.

        The two fsyncs (the CSV's and the store's commit) of a backlog's batch wait in
        a thread: meanwhile the event loop goes on reading deliveries, which the next call then
        takes together, so the slower the disk, the larger the batches (a group commit; a
        large run went markedly slower without it). Otherwise the loop is keeping up: the
        fsyncs run here, because a trip to the thread cost more than it saved, at the median
        and at p99 alike, from the lock to durable rows (the thread waits for the GIL, up to
        its 5 ms switch interval, whenever the loop is busy). The rarer commits of held
        batches released by time and of expired orphans stay on the event loop too."""
        clock = time.monotonic()
        held = self.holding.start(batch, clock)
        try:
            outcome, orphans = offer(prepared, self.records, self.batches, held)
            self.holding.hold(queue, held)
            backlog = self._backlog(queue)  # before the release acks some of the window
            text = metric_lines(outcome.joined, self.settings.task == "classification")
            released = self.holding.release(clock)
        except BaseException:
            self.store.rollback()
            raise
        prepared.reject_conflicts(outcome)
        turn = _Turn(
            rows=text,
            orphans=orphans,
            orphaned_at=prepared.arrived_at,
            why=MISSING_FROM_BATCH,
            outcome=outcome,
            rejected=prepared.rejected,
            released=released,
            in_thread=backlog,
        )
        return outcome.joined, await self._checkpoint(turn)

    async def _checkpoint(self, turn: _Turn) -> float:
        """Make a turn's work durable, then settle its deliveries with the broker. Every
        durable step of the service is here, in this order, each only once the one before
        succeeded:

        1. append the orphans to orphans.csv and the joined rows to metric_log.csv, each
           fsync'd (`_write_rows`; with nothing to write and nothing new in the store, steps
           1 and 2 are skipped);
        2. commit the join store together with both logs' new end offsets (`_write_rows`), so
           that after a crash the logs are cut back to what the store knows, and with the
           predictions counted per bucket of event time as the store first learnt of them
           (`join.counts`); then count what is now durable (joined rows, duplicates, orphans);
        3. dead-letter what was rejected;
        4. ack the released held batches (their waiting halves were committed in step 2).

        On an error before the commit the store's changes are rolled back. For a backlog
        (`turn.in_thread`) the fsyncs of steps 1 and 2 wait in the disk thread. Returns when
        the rows became durable: their latency ends there."""
        try:
            new_labels = labels_after(self._labels_saved)
            if new_labels:  # committed with the halves and rows that use them
                self.store.save_labels(new_labels)
            offsets = {ORPHAN_LOG: self._write_orphans(turn)} if turn.orphans else {}
            # One write, and none when there is nothing to write (true values waiting for
            # their predictions).
            if turn.rows or self.store.changed(offsets):
                if turn.in_thread:
                    await _in_thread(self._disk, self._write_rows, turn.rows, offsets)
                else:
                    self._write_rows(turn.rows, offsets)
        except BaseException:
            self.store.rollback()
            raise
        self._labels_saved += len(new_labels)
        if turn.outcome is not None:
            self.stats.counters["duplicates"] += turn.outcome.duplicates
            self.stats.counters["joined"] += len(turn.outcome.joined)
        if turn.why is not None:
            report_orphans(turn.orphans, turn.why, self.stats, self.orphan_log.path)
        written_at = time.time()  # the rows are durable: their latency ends here
        if turn.rejected:
            await dead_letter(self.bus, turn.rejected, self.stats)
        for held in turn.released:
            await self.bus.ack(held.deliveries)
        return written_at

    def _write_orphans(self, turn: _Turn) -> int:
        """Append a turn's orphans to orphans.csv; return its new end offset, to commit."""
        return self.orphan_log.append(orphan_rows(turn.orphans, turn.orphaned_at))

    def _write_rows(self, text: str, offsets: dict[str, int]) -> None:
        """The rows, durably, then the store's changes with the log's new end (both wait for
        an fsync)."""
        self.store.commit({**offsets, METRIC_LOG: self.metric_log.append_text(text)})

    def _backlog(self, queue: str) -> bool:
        """Whether the rows wait for their fsyncs in the disk thread: in single-record mode
        and in the embedded mode (always), when the queue's unacked deliveries (this batch and
        the held ones) fill the prefetch window, or when a window's worth is ready in the
        broker (its depth, polled each status interval). Written on the loop, which reads
        nothing meanwhile, single records come in small batches that stay small: flat out
        they went markedly slower on the development VM. Embedded, the loop is the features'
        and the model's too."""
        prefetch = self.settings.consumer_prefetch
        return (
            not self.settings.batched
            or self.settings.embedded
            or self.holding.unacked(queue) >= prefetch
            or self.stats.queue_depths.get(queue, 0) >= prefetch
        )

    def _observe(self, joined: Joined, written_at: float) -> None:
        """The rows' errors into the live quality windows and the Prometheus histograms."""
        if joined:
            self.quality.add(joined)
            self._census(joined)
            if self.telemetry is not None:
                self.telemetry.observe(joined, written_at)

    def _census(self, joined: Joined) -> None:
        """Count true values of a class the model has never predicted: accepted (a new class
        in the world is news, not bad input), counted, and named once in the log."""
        if self.settings.task == "classification":
            classified = np.ones(len(joined), dtype=bool)
        else:
            classified = joined.classified()
            if not classified.any():
                return
        self._predicted.update(np.unique(joined.column(Y_PRED)[classified]).tolist())
        y_true = joined.column(Y_TRUE)[classified]
        for value, count in zip(*np.unique(y_true, return_counts=True), strict=True):
            if float(value) in self._predicted:
                continue
            self.stats.counters["labels_of_unpredicted_classes"] += int(count)
            if len(self._unpredicted) < MAX_LABELS and float(value) not in self._unpredicted:
                self._unpredicted.add(float(value))
                log.warning(
                    "true value %r is a class the model has not predicted so far", cell(value)
                )

    async def _housekeeping(self, done: asyncio.Event) -> None:
        """Expire orphans and refresh the pending gauges until the consumers stop."""
        every = sweep_every(self.settings.max_label_wait)
        last_sweep = time.monotonic()
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self.settings.status_interval)
            async with self._lock:
                if time.monotonic() - last_sweep >= every:
                    await self._expire(time.time())
                    last_sweep = time.monotonic()
                self._update_gauges()
            now = time.time()
            # The live figures, for `mlmon report` without re-reading the log (they have a
            # lock of their own: a batch may be written meanwhile), in a thread: a
            # classifier's score figures take tens of ms over a full window, which the loop
            # would otherwise wait for.
            quality = await asyncio.to_thread(self.quality.details, now)
            self.stats.details["quality"] = quality
            self.estimation.refresh()
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

    async def _expire(self, now: float) -> None:
        """Forget what waited longer than max_label_wait; its halves become orphans."""
        try:
            orphans = self.store.expire(now) + self.batches.expire(now)
        except BaseException:
            self.store.rollback()
            raise
        why = f"never met its partner within {self.settings.max_label_wait:.0f}s"
        await self._checkpoint(_Turn(orphans=orphans, orphaned_at=now, why=why))

    def _update_gauges(self) -> None:
        in_memory = self.batches.waiting()
        for kind, count in self.records.pending().items():
            self.stats.gauges[f"pending_{kind}"] = count + in_memory[kind]
        joined = self.stats.counters["joined"]
        predicted = (
            joined
            + self.stats.gauges[f"pending_{Y_PRED}"]
            + self.stats.counters["orphaned_predictions"]
        )
        if predicted:  # share of this process's predictions that met their true value
            self.stats.gauges["label_coverage"] = joined / predicted
