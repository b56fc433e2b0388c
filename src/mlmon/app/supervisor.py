"""`mlmon up --broker URL`: each service in its own process, restarted when it dies.

Children get the effective settings as MLMON_* environment variables, exactly as containers
do, and write their logs to `<logs>/services/<service>.log`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mlmon.app.embedded import RunLimits, drain, watch
from mlmon.app.model_slots import ModelSlot
from mlmon.errors import EXIT_BAD_INPUT, MlmonError
from mlmon.ops.progress import Display, Progress, Snapshot, status_files
from mlmon.ops.status import read_statuses
from mlmon.services.dashboard import listening_socket
from mlmon.settings import Settings, env_name

log = logging.getLogger(__name__)

READY_PATIENCE = 60.0  # seconds to wait for model, metric and plot before starting features
GRACE = 10.0  # seconds between SIGTERM and SIGKILL, as Docker gives
MAX_RESTARTS = 5  # within RESTART_WINDOW seconds, then we give up
RESTART_WINDOW = 60.0


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as the MLMON_* variables a child process reads back."""
    env = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        env[env_name(name)] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


@dataclass
class Child:
    service: str
    argv: list[str]
    log_path: Path
    restart_on_success: bool = True
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    restarts: list[float] = field(default_factory=list)
    finished: bool = False  # exited by itself with success, or was told to stop

    def __repr__(self) -> str:
        pid = self.process.pid if self.process else None
        return f"Child({self.service!r}, pid={pid}, restarts={len(self.restarts)})"


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        models: list[ModelSlot] | None = None,
        model_workers: int = 1,
        dashboard: bool = False,
        external: bool = False,
    ) -> None:
        self.settings = settings
        # Predictions come from a model mlmon does not run: no features, no model service.
        self.external = external
        self.models = models or [ModelSlot(settings.model_path, None, None)]
        self.dashboard = dashboard
        self.env = {**os.environ, **settings_env(settings)}
        log_dir = settings.logs_dir / "services"
        log_dir.mkdir(parents=True, exist_ok=True)
        base = [sys.executable, "-m", "mlmon"]
        self.children = [
            Child(
                "features", [*base, "features"], log_dir / "features.log", restart_on_success=False
            ),
            *(
                Child(
                    "model",
                    [*base, "model"],
                    log_dir / (f"model-{slot.name}-{i}.log" if slot.name else f"model-{i}.log"),
                    env=slot.env(),
                )
                for slot in self.models
                for i in range(1, model_workers + 1)
            ),
            *self._metric_workers(base, log_dir),
            Child("plot", [*base, "plot"], log_dir / "plot.log"),
        ]
        if external:
            self.children = [c for c in self.children if c.service not in ("features", "model")]
        if dashboard:  # its port comes with the settings, as every child's does
            self.children.append(
                Child("dashboard", [*base, "dashboard"], log_dir / "dashboard.log")
            )
        if settings.metrics_port is not None:
            # One host, many processes: each gets its own port, counting up from the setting.
            for offset, child in enumerate(self.children):
                port = settings.metrics_port + offset
                child.env[env_name("metrics_port")] = str(port)
                log.info("%s serves /metrics on port %d", child.log_path.stem, port)
        self._stopping = False
        self._failure: BaseException | None = None

    def _metric_workers(self, base: list[str], log_dir: Path) -> list[Child]:
        """One metric process, or one per shard (each told its shard)."""
        workers = self.settings.metric_workers
        if workers == 1:
            return [Child("metric", [*base, "metric"], log_dir / "metric.log")]
        return [
            Child(
                "metric",
                [*base, "metric"],
                log_dir / f"metric-{shard}-of-{workers}.log",
                env={env_name("metric_shard"): str(shard)},
            )
            for shard in range(1, workers + 1)
        ]

    async def _spawn(self, child: Child) -> None:
        with child.log_path.open("ab") as log_file:
            child.process = await asyncio.create_subprocess_exec(
                *child.argv,
                env={**self.env, **child.env},
                stdout=log_file,
                stderr=log_file,
                stdin=asyncio.subprocess.DEVNULL,
            )
        log.info("started %s (pid %d), log in %s", child.service, child.process.pid, child.log_path)

    async def _keep_alive(self, child: Child) -> None:
        while True:
            await self._spawn(child)
            assert child.process is not None
            code = await child.process.wait()
            if self._stopping or child.finished:
                return
            if code == 0 and not child.restart_on_success:
                child.finished = True
                return
            if code == EXIT_BAD_INPUT:  # a wrong setting or file: restarts would fail alike
                self._failure = MlmonError(
                    f"{child.service} stopped on an error a restart cannot fix; its log ends:\n"
                    f"{_tail(child.log_path)}"
                )
                return
            now = time.monotonic()
            child.restarts = [t for t in child.restarts if now - t < RESTART_WINDOW] + [now]
            if len(child.restarts) > MAX_RESTARTS:
                tail = _tail(child.log_path)
                self._failure = MlmonError(
                    f"{child.service} exited {MAX_RESTARTS + 1} times within "
                    f"{RESTART_WINDOW:.0f}s (last code {code}); its log ends:\n{tail}"
                )
                return
            delay = min(2 ** (len(child.restarts) - 1), 10)
            log.warning("%s exited with code %s; restarting in %ds", child.service, code, delay)
            await asyncio.sleep(delay)

    async def run(self, limits: RunLimits) -> Snapshot:
        started = time.time()
        progress = Progress(self.settings.logs_dir, status_files(self.settings.state_dir, started))
        display = Display()
        if self.dashboard:  # a port in use: fail now, not after five restarts
            listening_socket(self.settings.dashboard_host, self.settings.dashboard_port).close()
        if self.external:
            features, consumers = None, self.children
        else:
            features, consumers = self.children[0], self.children[1:]
        keepers = [asyncio.create_task(self._keep_alive(child)) for child in consumers]
        with display:  # log lines and the progress line take turns on the terminal
            try:
                # The producer starts once the consumers are ready, so the first records do
                # not wait for the others to import and connect.
                await self._ready(consumers, started)
                if features is None:  # until Ctrl-C or the duration: records come from outside
                    log.info(
                        "ready: publish predictions to %s and true values to %s",
                        self.settings.queue_y_pred, self.settings.queue_y_true,
                    )  # fmt: skip
                    await watch(progress, limits, lambda: False, lambda: self._failure, display)
                else:
                    await self._produce(features, progress, limits, display)
            finally:
                self._stopping = True
                await self._terminate(self.children)
                for keeper in keepers:
                    keeper.cancel()
                await asyncio.gather(*keepers, return_exceptions=True)
                await self._remove_challenger_queues()
            final = progress.snapshot()
            display.show(final, final=True)
        return final

    async def _produce(
        self, features: Child, progress: Progress, limits: RunLimits, display: Display
    ) -> None:
        """Run the features service until the limits, then wait for its records to join."""
        keeper = asyncio.create_task(self._keep_alive(features))
        try:
            await watch(progress, limits, lambda: features.finished, lambda: self._failure, display)
            await self._terminate([features])
            await drain(progress, display, len(self.models))
        finally:
            self._stopping = True
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

    async def _remove_challenger_queues(self) -> None:
        """A challenger's queue is this run's: left bound to the features fan-out, it would
        collect every record of every later run with nobody to read it."""
        queues = [slot.queue for slot in self.models if slot.queue is not None]
        if not queues or self.settings.broker_url is None:
            return
        from mlmon.bus.rabbit import remove_queues

        try:
            dropped = await remove_queues(self.settings.broker_url, queues)
        except Exception as error:  # the run's rows are written; say what is left behind
            log.warning("could not delete the challenger queues %s: %r", queues, error)
            return
        for queue, count in dropped.items():
            log.info("deleted challenger queue %s (%d unread messages)", queue, count)

    async def _ready(self, children: list[Child], since: float) -> None:
        # Every process, not every kind: a challenger must have bound its queue to the features
        # fan-out before the first record goes out, or it never sees that record.
        wanted = Counter(child.service for child in children)
        deadline = time.monotonic() + READY_PATIENCE
        while time.monotonic() < deadline and self._failure is None:
            statuses = read_statuses(self.settings.state_dir, since)
            ready = Counter(s["service"] for s in statuses if s.get("ready"))
            if all(ready[service] >= count for service, count in wanted.items()):
                return
            await asyncio.sleep(0.1)
        log.warning(
            "not every service was ready after %.0fs; starting features anyway", READY_PATIENCE
        )

    async def _terminate(self, children: list[Child]) -> None:
        """SIGTERM, then SIGKILL whoever is still there after the grace period."""
        running = [
            c.process for c in children if c.process is not None and c.process.returncode is None
        ]
        for child in children:
            child.finished = True
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in running)), GRACE)
        except TimeoutError:
            for process in running:
                if process.returncode is None:
                    log.warning("pid %d ignored SIGTERM for %.0fs: killing it", process.pid, GRACE)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await asyncio.gather(*(p.wait() for p in running))


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
