"""`mlmon up`: the whole pipeline, in one process (embedded bus) or as supervised processes.

Both modes share the same watch loop: show progress, stop on --duration, on --count once every
record is joined, or on Ctrl-C; then stop the producer first and let the rest drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client.registry import Collector

from mlmon.app.model_slots import ModelSlot
from mlmon.app.service_main import serve_metrics
from mlmon.bus.memory import MemoryBus
from mlmon.model.predictors import Predictor
from mlmon.ops.alert_actions import Alerting
from mlmon.ops.drift import LiveDrift
from mlmon.ops.progress import Display, Progress, Snapshot
from mlmon.ops.status import ServiceStats, publish_status
from mlmon.ops.telemetry import MergedCollector
from mlmon.services.dashboard import listening_socket, run_dashboard
from mlmon.services.features import run_features
from mlmon.services.metric.service import MetricService
from mlmon.services.model import run_model
from mlmon.services.plot import run_plot
from mlmon.settings import Settings

log = logging.getLogger(__name__)

DRAIN_PATIENCE = 15.0  # seconds without progress before we stop waiting for stragglers


@dataclass(frozen=True)
class RunLimits:
    duration: float | None
    count: int | None


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
            wait = 0.5
            if limits.duration is not None:  # stop on time, not up to half a second late
                wait = min(wait, max(0.0, started + limits.duration - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(interrupted.wait(), wait)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def drain(
    progress: Progress, display: Display, models: int = 1, patience: float = DRAIN_PATIENCE
) -> Snapshot:
    """After the producer stopped: wait until every sent record is joined (once per model) or
    dead, or nothing moves for `patience` seconds."""
    snapshot = progress.snapshot()
    last_change, last = time.monotonic(), snapshot
    while snapshot.joined + snapshot.dead_lettered < snapshot.sent * models:
        if time.monotonic() - last_change > patience:
            log.warning(
                "stopped waiting: %d of %d rows joined", snapshot.joined, snapshot.sent * models
            )
            break
        await asyncio.sleep(0.2)
        snapshot = progress.snapshot()
        display.show(snapshot)
        if snapshot != last:
            last_change, last = time.monotonic(), snapshot
    return snapshot


async def run_embedded(
    settings: Settings,
    models: list[tuple[ModelSlot, Predictor]],
    limits: RunLimits,
    dashboard: bool = False,
) -> Snapshot:
    """Every service on one in-process bus. Nothing survives the process: a demo mode."""
    queues = [slot.queue or settings.queue_features for slot, _ in models]
    bus = MemoryBus(fanout={settings.queue_features: queues})
    stats = {name: ServiceStats(name) for name in ("features", "metric", "plot")}
    model_stats = [ServiceStats("model") for _ in models]
    every = [*stats.values(), *model_stats]
    dashboard_stats = ServiceStats("dashboard")
    stop_features, stop_plot = asyncio.Event(), asyncio.Event()
    # Live counters, not the files: the drain must not stop on a second-old count.
    progress = Progress(settings.logs_dir, lambda: [s.snapshot() for s in every])
    display = Display()
    # Bind the dashboard's port before anything starts: a port in use fails the run at once.
    port = settings.dashboard_port
    sock = listening_socket(settings.dashboard_host, port) if dashboard else None
    reporters = [
        asyncio.create_task(publish_status(settings.state_dir, s, settings.status_interval))
        for s in [*every, dashboard_stats]
    ]
    telemetry = serve_metrics(settings, every)  # one endpoint for all of them
    metric = MetricService(settings, bus, stats["metric"], telemetry)
    tasks = {
        "features": asyncio.create_task(
            run_features(settings, bus, stats["features"], stop_features)
        ),
        "metric": asyncio.create_task(metric.run()),
        "plot": asyncio.create_task(run_plot(settings, stats["plot"], stop_plot, False, telemetry)),
    }
    model_collectors: list[Collector] = []
    for index, ((slot, predictor), own_stats) in enumerate(zip(models, model_stats, strict=True)):
        mine = settings.model_copy(update={"model_queue": slot.queue, "model_name": slot.name})
        drift = LiveDrift.for_model(mine, predictor)
        alerts = Alerting.for_service(mine, own_stats)
        model_collectors += [c for c in (drift, alerts) if c is not None]
        tasks[f"model-{index}"] = asyncio.create_task(
            run_model(mine, bus, predictor, own_stats, drift, alerts)
        )
    if telemetry is not None and model_collectors:
        # One per model would repeat metric names: a registry wants each family once.
        telemetry.registry.register(MergedCollector(model_collectors))
    if sock is not None:
        live = lambda: [s.snapshot() for s in [*every, dashboard_stats]]  # noqa: E731
        tasks["dashboard"] = asyncio.create_task(
            run_dashboard(settings, dashboard_stats, stop_plot, live, sock)
        )

    def failure() -> BaseException | None:
        for task in tasks.values():
            if task.done() and not task.cancelled() and task.exception() is not None:
                return task.exception()
        return None

    consumers = [task for name, task in tasks.items() if name.startswith(("model", "metric"))]
    with display:  # log lines and the progress line take turns on the terminal
        try:
            await watch(progress, limits, tasks["features"].done, failure, display)
            stop_features.set()
            await tasks["features"]
            await drain(progress, display, len(models))
            await bus.stop_consuming()
            await asyncio.gather(*consumers)
            stop_plot.set()
            await tasks["plot"]
            await run_plot(settings, stats["plot"], stop_plot, once=True)  # the final picture
            if "dashboard" in tasks:  # let it close its event streams, not be cancelled
                await tasks["dashboard"]
        finally:
            for task in [*tasks.values(), *reporters]:
                task.cancel()
            await asyncio.gather(*tasks.values(), *reporters, return_exceptions=True)
            await bus.close()
        final = progress.snapshot()
        display.show(final, final=True)
    return final
