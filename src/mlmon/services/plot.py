"""plot: keep `error_distribution.png` and `metrics_over_time.png` up to date with metric_log.csv.

Every `plot_interval` seconds the log is polled for new rows (only appended bytes are read) and,
when there are any or the log started over, the PNG is rendered again. Reading and rendering
run in a worker thread so the event loop (status updates, stop requests) stays responsive. The
rows go into a `LogSummary`, so the service's memory stays bounded however long the log grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from pathlib import Path

from mlmon.dashboard.aggregates import metrics_over_time
from mlmon.metric_log.layout import METRIC_LOG
from mlmon.metric_log.reader import MetricLogReader
from mlmon.ops.status import ServiceStats
from mlmon.render.error_distribution import render_error_groups
from mlmon.render.over_time import render_metrics_over_time
from mlmon.settings import Settings
from mlmon.summary.log_summary import LogSummary

log = logging.getLogger(__name__)

PLOT_FILE = "error_distribution.png"
OVER_TIME_FILE = "metrics_over_time.png"


async def run_plot(
    settings: Settings, stats: ServiceStats, stop: asyncio.Event, once: bool = False
) -> None:
    """Render the PNG at start and whenever rows arrive, until `stop` is set (or once)."""
    summary = LogSummary()
    reader = MetricLogReader(settings.logs_dir / METRIC_LOG, summary)
    target = settings.logs_dir / PLOT_FILE
    stale = True  # nothing rendered yet, or the last attempt failed
    while True:
        try:
            resets = reader.resets
            rows = await asyncio.to_thread(reader.poll)
            # A log cut back to its header, removed or emptied brings no rows, yet changes
            # the picture: the old one must not stay up.
            if rows or reader.resets != resets or stale:
                await asyncio.to_thread(_render, summary, target)
                stale = False
                stats.counters["renders"] += 1
                stats.ready = True
        except Exception:
            stale = True
            stats.counters["render_errors"] += 1
            log.exception(
                "could not render %s; trying again in %ss", target, settings.plot_interval
            )
        stats.gauges["rows"] = reader.count
        stats.gauges["skipped_rows"] = reader.skipped
        if once or stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.plot_interval)
        if stop.is_set():
            return


def _render(summary: LogSummary, target: Path) -> None:
    now = datetime.now(UTC)
    render_error_groups(summary.error_groups(), target, now)
    render_metrics_over_time(metrics_over_time(summary), target.with_name(OVER_TIME_FILE), now)
