"""`mlmon up`: the whole pipeline, in one process (embedded bus) or as supervised processes.

Both modes share the same watch loop: show progress, stop on --duration, on --count once every
record is joined, or on Ctrl-C; then stop the producer first and let the rest drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from mlmon.alerting import Alerting
from mlmon.bus.memory import MemoryBus
from mlmon.models import Predictor
from mlmon.monitors import LiveDrift
from mlmon.progress import Progress, Snapshot
from mlmon.service_main import serve_metrics
from mlmon.services.features import run_features
from mlmon.services.metric import MetricService
from mlmon.services.model import run_model
from mlmon.services.plot import run_plot
from mlmon.settings import Settings
from mlmon.status import ServiceStats, publish_status

log = logging.getLogger("mlmon.up")

DRAIN_PATIENCE = 15.0  # seconds without progress before we stop waiting for stragglers


@dataclass(frozen=True)
class RunLimits:
    duration: float | None
    count: int | None


class Display:
    """One progress line: rewritten in place on a terminal, printed every few seconds otherwise."""

    def __init__(self, every: float = 5.0) -> None:
        self._tty = sys.stdout.isatty()
        self._every = every
        self._last = 0.0

    def show(self, snapshot: Snapshot, final: bool = False) -> None:
        if self._tty:
            end = "\n" if final else ""
            sys.stdout.write(f"\r\x1b[2K{snapshot.line()}{end}")
            sys.stdout.flush()
        elif final or time.monotonic() - self._last >= self._every:
            print(snapshot.line(), flush=True)
            self._last = time.monotonic()


async def watch(
    progress: Progress,
    limits: RunLimits,
    producer_done: Callable[[], bool],
    failure: Callable[[], BaseException | None],
    display: Display,
) -> Snapshot:
    """Return when the run should stop: duration over, count joined, Ctrl-C, or a failure."""
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, interrupted.set)
    started = time.monotonic()
    try:
        while True:
            snapshot = progress.snapshot()
            display.show(snapshot)
            if (error := failure()) is not None:
                raise error
            if interrupted.is_set() or (
                limits.duration is not None and time.monotonic() - started >= limits.duration
            ):
                return snapshot
            if producer_done() and limits.count is not None:
                return snapshot
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(interrupted.wait(), 0.5)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def drain(progress: Progress, display: Display, patience: float = DRAIN_PATIENCE) -> Snapshot:
    """After the producer stopped: wait until every sent record is joined or dead, or stalls."""
    snapshot = progress.snapshot()
    last_change, last = time.monotonic(), snapshot
    while snapshot.joined + snapshot.dead_lettered < snapshot.sent:
        if time.monotonic() - last_change > patience:
            log.warning("stopped waiting: %d of %d records joined", snapshot.joined, snapshot.sent)
            break
        await asyncio.sleep(0.2)
        snapshot = progress.snapshot()
        display.show(snapshot)
        if snapshot != last:
            last_change, last = time.monotonic(), snapshot
    return snapshot


async def run_embedded(settings: Settings, predictor: Predictor, limits: RunLimits) -> Snapshot:
    """All four services on one in-process bus. Nothing survives the process: a demo mode."""
    bus = MemoryBus()
    stats = {name: ServiceStats(name) for name in ("features", "model", "metric", "plot")}
    stop_features, stop_plot = asyncio.Event(), asyncio.Event()
    # Live counters, not the files: the drain must not stop on a second-old count.
    progress = Progress(settings.logs_dir, lambda: [s.snapshot() for s in stats.values()])
    display = Display()
    reporters = [
        asyncio.create_task(publish_status(settings.state_dir, s, settings.status_interval))
        for s in stats.values()
    ]
    telemetry = serve_metrics(settings, list(stats.values()))  # one endpoint for all four
    drift = LiveDrift.for_model(settings, predictor)
    model_alerts = Alerting.for_service(settings, stats["model"])
    if telemetry is not None:
        for collector in (drift, model_alerts):
            if collector is not None:
                telemetry.registry.register(collector)
    metric = MetricService(settings, bus, stats["metric"], telemetry)
    tasks = {
        "features": asyncio.create_task(
            run_features(settings, bus, stats["features"], stop_features)
        ),
        "model": asyncio.create_task(
            run_model(settings, bus, predictor, stats["model"], drift, model_alerts)
        ),
        "metric": asyncio.create_task(metric.run()),
        "plot": asyncio.create_task(run_plot(settings, stats["plot"], stop_plot)),
    }

    def failure() -> BaseException | None:
        for task in tasks.values():
            if task.done() and not task.cancelled() and task.exception() is not None:
                return task.exception()
        return None

    try:
        await watch(progress, limits, tasks["features"].done, failure, display)
        stop_features.set()
        await tasks["features"]
        await drain(progress, display)
        await bus.stop_consuming()
        await asyncio.gather(tasks["model"], tasks["metric"])
        stop_plot.set()
        await tasks["plot"]
        await run_plot(settings, stats["plot"], stop_plot, once=True)  # the final picture
    finally:
        for task in [*tasks.values(), *reporters]:
            task.cancel()
        await asyncio.gather(*tasks.values(), *reporters, return_exceptions=True)
        await bus.close()
    final = progress.snapshot()
    display.show(final, final=True)
    return final
