"""dashboard: serve the live page and refresh what it shows about once a second.

Standalone (`mlmon dashboard`, or a child of `mlmon up --broker`) it reads the services' status
files; inside the embedded `mlmon up` it is handed their live counters instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Iterator

import uvicorn

from mlmon.dashboard.app import create_app
from mlmon.dashboard.state import DashboardState
from mlmon.errors import ConfigError
from mlmon.ops.progress import StatusSource
from mlmon.ops.status import ServiceStats, read_statuses
from mlmon.settings import Settings

log = logging.getLogger(__name__)

REFRESH = 1.0  # seconds between snapshots sent to the page
STATUS_MAX_AGE = 10.0  # status files older than this belong to processes that are gone


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind the port now, so a port in use is a clear error and not a server that never starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        msg = (
            f"dashboard cannot listen on {host}:{port} ({error.strerror}); "
            "choose another with --dashboard-port / MLMON_DASHBOARD_PORT"
        )
        raise ConfigError(msg) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    """Leaves SIGINT and SIGTERM to mlmon, which stops the server itself: uvicorn's own
    handlers would take Ctrl-C from `mlmon up` and replay it once the server is down."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def fresh_status_files(settings: Settings) -> StatusSource:
    """Statuses of the processes alive now: a sliding window, unlike `up`'s since-start view."""
    window = max(STATUS_MAX_AGE, 5 * settings.status_interval)
    return lambda: read_statuses(settings.state_dir, time.time() - window)


async def run_dashboard(
    settings: Settings,
    stats: ServiceStats,
    stop: asyncio.Event,
    statuses: StatusSource | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve until `stop` is set."""
    port = settings.dashboard_port
    sock = sock or listening_socket(settings.dashboard_host, port)
    statuses = statuses or fresh_status_files(settings)
    state = DashboardState(settings.logs_dir, settings.task)
    closing = asyncio.Event()
    config = uvicorn.Config(
        create_app(state, closing), log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    # Debug only: `mlmon up` and `mlmon dashboard` print the address once themselves.
    log.debug("dashboard on http://%s:%d/", settings.dashboard_host, port)
    stats.ready = True
    try:
        while not stop.is_set() and not serving.done():
            try:
                # Statuses read here, on the loop: the embedded services change their live
                # counters on it, so a worker thread must not copy them mid-update.
                await asyncio.to_thread(state.refresh, statuses())
                stats.counters["refreshes"] += 1
            except Exception:
                stats.counters["refresh_errors"] += 1
                log.exception("could not refresh the dashboard; trying again")
            stats.gauges["rows"] = state.reader.count
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REFRESH)
    finally:
        closing.set()  # the event streams end their responses, then the server stops
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        sock.close()
