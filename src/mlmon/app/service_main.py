"""Running one service as its own process (`mlmon features|model|metric|plot`), as in a container.

SIGTERM or SIGINT stops it gracefully: stop consuming, finish and ack what is in flight, flush
the logs, close the connection, well within Docker's 10 s grace period.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from mlmon.bus import Bus, make_bus
from mlmon.bus.topology import shard_name
from mlmon.errors import ConfigError
from mlmon.metric_log.layout import shard_dir
from mlmon.model.predictors import Predictor
from mlmon.ops.alert_actions import Alerting
from mlmon.ops.drift import LiveDrift
from mlmon.ops.status import ServiceStats, publish_status
from mlmon.ops.telemetry import Telemetry
from mlmon.services.features import run_features
from mlmon.services.metric.service import MetricService
from mlmon.services.model import run_model
from mlmon.settings import Settings

log = logging.getLogger(__name__)

SERVICES = ("features", "model", "metric", "plot", "dashboard")
BACKGROUND = ("plot", "dashboard")  # readers of the log, not on any record's path
BACKGROUND_NICENESS = 10


def _needs_broker(settings: Settings, service: str) -> None:
    if settings.broker_url is None:
        msg = (
            f"`mlmon {service}` talks to RabbitMQ: set MLMON_BROKER_URL or --broker "
            "(or run `mlmon up` for all four services in one process, no broker needed)"
        )
        raise ConfigError(msg)


def run_in_background() -> None:
    """Lower this process's priority: Linux's idle scheduling class where there is one (it
    runs only when the pipeline's processes leave a core free; at nice 10 a render still took
    a share of a busy core and the latency's tail spiked with each render), else `nice 10`.

    Every thread of the process, not only the calling one: on Linux a scheduling policy is a
    thread's, and OpenBLAS starts its worker threads when numpy is imported, before this runs.
    Left at the normal class, they ran a render's matrix work beside the pipeline at its own
    priority."""
    idle = getattr(os, "SCHED_IDLE", None)
    if idle is not None:
        try:
            for thread in _thread_ids():
                os.sched_setscheduler(thread, idle, os.sched_param(0))
            return
        except OSError:
            pass
    os.nice(BACKGROUND_NICENESS)


def _thread_ids() -> list[int]:
    """This process's threads (0, the calling thread, where /proc cannot tell)."""
    try:
        return [int(name) for name in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


async def run_service(
    service: str, settings: Settings, predictor: Predictor | None = None, once: bool = False
) -> None:
    stats = ServiceStats(service)
    telemetry = serve_metrics(settings, [stats])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if service in BACKGROUND:
        # Rendering a PNG or a page's figures takes a core for a fraction of a second; at a
        # lower priority it waits for the pipeline instead of delaying its records.
        run_in_background()
    if service == "plot":
        from mlmon.services.plot import run_plot  # matplotlib: only the plot process pays for it

        await _with_status(settings, stats, run_plot(settings, stats, stop, once, telemetry))
        return
    if service == "dashboard":
        from mlmon.services.dashboard import run_dashboard  # the web server: only here

        await _with_status(settings, stats, run_dashboard(settings, stats, stop))
        return
    _needs_broker(settings, service)
    status = settings.state_dir  # a metric worker's status goes with the run's, not its shard's
    name = f"mlmon-{service}"
    if service == "metric" and settings.metric_workers > 1:
        settings = metric_shard_settings(settings)
        name += f"-{settings.queue_y_true.rsplit('.', 1)[-1]}"
    bus = make_bus(settings, name)
    await bus.connect()
    stats.broker = lambda: bus.connected
    consumed = {
        "model": [settings.features_queue_of_model],
        "metric": [settings.queue_y_true, settings.queue_y_pred],
    }.get(service, [])
    lag = asyncio.create_task(watch_queue_depths(bus, consumed, stats, settings.status_interval))
    try:
        work = _service_work(service, settings, bus, stats, stop, predictor, telemetry)
        await _with_status(settings, stats, work, (stop, bus.stop_consuming), status)
    finally:
        lag.cancel()
        await bus.close()


def metric_shard_settings(settings: Settings) -> Settings:
    """What one metric worker of several sees: its shard's two queues and its own logs
    directory (log shard, orphans, join store), as if it were the only metric; its status
    file and /metrics stay the run's."""
    if settings.metric_shard is None:
        msg = (
            f"MLMON_METRIC_WORKERS={settings.metric_workers}: say which shard this metric "
            f"worker takes (--shard 1..{settings.metric_workers}, MLMON_METRIC_SHARD)"
        )
        raise ConfigError(msg)
    name = shard_name(settings.metric_shard, settings.metric_workers)
    return settings.model_copy(
        update={
            "queue_y_true": f"{settings.queue_y_true}.{name}",
            "queue_y_pred": f"{settings.queue_y_pred}.{name}",
            "logs_dir": shard_dir(settings.logs_dir, name),
            "metric_workers": 1,
            "metric_shard": None,
        }
    )


async def watch_queue_depths(
    bus: Bus, queues: list[str], stats: ServiceStats, interval: float
) -> None:
    """Keep the depth of the queues this service consumes: how far behind it is."""
    while queues:
        for queue in queues:
            depth = await bus.depth(queue)
            if depth is not None:
                stats.queue_depths[queue] = depth
        await asyncio.sleep(interval)


def serve_metrics(settings: Settings, stats: list[ServiceStats]) -> Telemetry | None:
    """Prometheus /metrics for these services, if MLMON_METRICS_PORT is set."""
    if settings.metrics_port is None:
        return None
    telemetry = Telemetry.for_settings(settings, stats)
    telemetry.serve(settings.metrics_port)
    return telemetry


def _service_work(
    service: str,
    settings: Settings,
    bus: Bus,
    stats: ServiceStats,
    stop: asyncio.Event,
    predictor: Predictor | None,
    telemetry: Telemetry | None,
) -> Awaitable[object]:
    if service == "features":
        return run_features(settings, bus, stats, stop)
    if service == "model":
        if predictor is None:
            msg = "the model service needs a loaded model"
            raise ConfigError(msg)
        drift = LiveDrift.for_model(settings, predictor)
        alerting = Alerting.for_service(settings, stats)
        if telemetry is not None:
            for collector in (drift, alerting):
                if collector is not None:
                    telemetry.registry.register(collector)
        return run_model(settings, bus, predictor, stats, drift, alerting)
    if service == "metric":
        return MetricService(settings, bus, stats, telemetry).run()
    msg = f"unknown service {service!r} (one of {', '.join(SERVICES)})"
    raise ConfigError(msg)


async def _with_status(
    settings: Settings,
    stats: ServiceStats,
    work: Awaitable[object],
    on_stop: tuple[asyncio.Event, Callable[[], Awaitable[None]]] | None = None,
    state_dir: Path | None = None,
) -> None:
    """Run `work` with a fresh status file (in `state_dir`, by default the settings'); when
    `stop` is set, call the stop hook."""
    reporter = asyncio.create_task(
        publish_status(state_dir or settings.state_dir, stats, settings.status_interval)
    )
    watcher = asyncio.create_task(_on_event(*on_stop)) if on_stop else None
    try:
        await work
    finally:
        for task in (watcher, reporter):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (watcher, reporter) if t), return_exceptions=True)


async def _on_event(event: asyncio.Event, action: Callable[[], Awaitable[None]]) -> None:
    await event.wait()
    log.info("stopping: finishing in-flight messages")
    await action()
