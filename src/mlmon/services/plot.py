"""plot: keep `error_distribution.png` and `metrics_over_time.png` up to date with metric_log.csv.

Every `plot_interval` seconds the log is polled for new rows (only appended bytes are read) and,
when there are any or the log started over, the PNG is rendered again. Reading and rendering
run in a worker thread so the event loop (status updates, stop requests) stays responsive. The
rows go into a `LogSummary`, so the service's memory stays bounded however long the log grows.

The same read feeds the change detectors (`summary.changes`): their change points go to
change_points.csv, the service's log, Prometheus and the alert rules (`ops.changes`), and are
marked on metrics_over_time.png. The detectors start from the log's top with the service, so a
restart finds what an uninterrupted run did; the file keeps each change point once.

The same read feeds quality by event time (`summary.by_time`): at every poll (buckets turn
final with time alone, and predictions come before their labels) the metric service's
prediction counts per bucket are read (`join.counts`, for the label completeness),
quality_by_time.csv and quality_by_time.png written again if a bucket changed, the latest final
and provisional buckets exported as gauges, and the alert rules evaluated on the bucket and
change point signals together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client.registry import Collector

from mlmon.arrays import Floats
from mlmon.dashboard.aggregates import metrics_over_time
from mlmon.join.counts import read_counts
from mlmon.metric_log.layout import shard_dirs
from mlmon.metric_log.reader import RowSink, Sinks
from mlmon.metric_log.shards import MergedLogReader
from mlmon.monitoring.detectors import ChangePoint, DetectorConfig, load_river_drift
from mlmon.monitoring.quality.by_time import ByEventTime
from mlmon.ops.alert_actions import Alerting
from mlmon.ops.by_time import BucketGauges, bucket_signals
from mlmon.ops.changes import ChangeLog
from mlmon.ops.status import ServiceStats
from mlmon.ops.telemetry import Telemetry
from mlmon.render.by_time import BY_TIME_PNG, render_quality_by_time
from mlmon.render.error_distribution import render_error_groups
from mlmon.render.over_time import render_metrics_over_time
from mlmon.settings import Settings
from mlmon.summary.by_time import BY_TIME_FILE, ByTimeSink, by_time_rows, write_by_time
from mlmon.summary.changes import ChangeSink
from mlmon.summary.log_summary import LogSummary

log = logging.getLogger(__name__)

PLOT_FILE = "error_distribution.png"
OVER_TIME_FILE = "metrics_over_time.png"


def detector_config(settings: Settings) -> DetectorConfig:
    return DetectorConfig(
        adwin_delta=settings.change_adwin_delta,
        ph_threshold=settings.change_ph_threshold,
        max_segments=settings.change_max_segments,
    )


async def run_plot(
    settings: Settings,
    stats: ServiceStats,
    stop: asyncio.Event,
    once: bool = False,
    telemetry: Telemetry | None = None,
) -> None:
    """Render the PNG at start and whenever rows arrive, until `stop` is set (or once)."""
    summary = LogSummary()
    by_time = ByTimeSink(settings.task)
    sink: RowSink = Sinks(summary, by_time)
    changes: tuple[ChangeSink, ChangeLog] | None = None
    if settings.change_detection:
        load_river_drift()
        changes = (
            ChangeSink(settings.task, detector_config(settings)),
            ChangeLog(settings.logs_dir),
        )
        sink = Sinks(summary, by_time, changes[0])
    # A last picture (`once`) announces nothing: the run before it did.
    alerting = None if once else Alerting.for_plot(settings, stats)
    gauges = BucketGauges()
    collectors: list[Collector] = [gauges]
    if changes is not None:
        collectors.append(changes[1])
    if alerting is not None:
        collectors.append(alerting)
    if telemetry is not None:
        for collector in collectors:
            telemetry.registry.register(collector)
    reader = MergedLogReader(settings.logs_dir, sink)
    outputs = _Outputs(changes, alerting, gauges)
    try:
        await _plot_loop(settings, stats, stop, once, summary, by_time, reader, outputs)
    finally:
        if changes is not None:
            changes[1].close()
        if telemetry is not None:
            for collector in collectors:
                telemetry.registry.unregister(collector)


@dataclass
class _Outputs:
    """Where the plot service's findings go besides the PNGs."""

    changes: tuple[ChangeSink, ChangeLog] | None
    alerting: Alerting | None
    gauges: BucketGauges
    drawn: list[dict[str, Any]] | None = None  # the buckets the CSV and PNG last got


async def _plot_loop(
    settings: Settings,
    stats: ServiceStats,
    stop: asyncio.Event,
    once: bool,
    summary: LogSummary,
    by_time: ByTimeSink,
    reader: MergedLogReader,
    outputs: _Outputs,
) -> None:
    target = settings.logs_dir / PLOT_FILE
    changes = outputs.changes
    stale = True  # nothing rendered yet, or the last attempt failed
    while True:
        try:
            resets = reader.resets
            rows = await asyncio.to_thread(reader.poll)
            signals = {} if changes is None else await _announce(settings, stats, changes)
            # A log cut back to its header, removed or emptied brings no rows, yet changes
            # the picture: the old one must not stay up.
            if rows or reader.resets != resets or stale:
                points = list(changes[0].recent) if changes is not None else []
                await asyncio.to_thread(_render, summary, points, target, by_time.classifiers)
                stale = False
                stats.counters["renders"] += 1
                stats.ready = True
            # Buckets turn final with time alone, and predictions come before their labels:
            # the counts are read and the buckets looked at every poll.
            predicted, estimated = await asyncio.to_thread(_counts, settings)
            by_time.by_time.set_predicted(predicted, estimated)
            now = time.time()
            await _by_time(settings, by_time.by_time, outputs, signals, now)
        except Exception:
            stale = True
            outputs.drawn = None
            stats.counters["render_errors"] += 1
            log.exception(
                "could not render %s; trying again in %ss", target, settings.plot_interval
            )
        stats.gauges["rows"] = reader.count
        stats.gauges["skipped_rows"] = reader.skipped
        if once or stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            # Stopped during the wait: one last pass, so that the files show the final log.
            await asyncio.wait_for(stop.wait(), settings.plot_interval)


def _counts(
    settings: Settings,
) -> tuple[dict[str, dict[int, int]] | None, dict[str, dict[int, Floats]]]:
    """The predictions counted per bucket, and their estimate cells, summed over the metric's
    join stores (its workers' own, when it is sharded)."""
    shards = [settings.model_copy(update={"logs_dir": d}) for d in shard_dirs(settings.logs_dir)]
    stores = [s.state_dir for s in (settings, *shards)]
    read = [read_counts(store) for store in stores]  # each store one snapshot
    found = [counts for counts, _ in read if counts is not None]
    predicted: dict[str, dict[int, int]] = {}
    for counts in found:
        for model, buckets in counts.items():
            mine = predicted.setdefault(model, {})
            for bucket, count in buckets.items():
                mine[bucket] = mine.get(bucket, 0) + count
    estimated: dict[str, dict[int, Floats]] = {}
    for _, cells in read:
        for model, rows in cells.items():
            summed = estimated.setdefault(model, {})
            for bucket, row in rows.items():
                summed[bucket] = _add(summed.get(bucket), row)
    return (predicted if found else None), estimated


def _add(total: Floats | None, row: Floats) -> Floats:
    """Two shards' estimate cells of one bucket, summed (the longer row's length)."""
    if total is None:
        return row
    out = np.zeros(max(len(total), len(row)))
    out[: len(total)] += total
    out[: len(row)] += row
    return out


async def _by_time(
    settings: Settings,
    by_time: ByEventTime,
    outputs: _Outputs,
    signals: dict[str, dict[str, float]],
    now: float,
) -> None:
    """quality_by_time.csv, its PNG (when a bucket changed), the gauges, and the alert rules
    on the change point and bucket signals together."""
    rows = by_time_rows(by_time.buckets(), now, settings.max_label_wait)
    outputs.gauges.update(rows)
    # A bucket changes with a row or its state: else the file and the PNG stay as they are.
    if rows != outputs.drawn:
        await asyncio.to_thread(write_by_time, settings.logs_dir / BY_TIME_FILE, rows)
        path = settings.logs_dir / BY_TIME_PNG
        await asyncio.to_thread(render_quality_by_time, rows, path, datetime.now(UTC))
        outputs.drawn = rows
    alerting = outputs.alerting
    if alerting is None:
        return
    selectors = alerting.bucket_selectors()
    if selectors:
        buckets = bucket_signals(by_time, selectors, now, settings.max_label_wait)
        for model, values in buckets.items():
            signals.setdefault(model, {}).update(values)
    await alerting.check(signals, now)


async def _announce(
    settings: Settings, stats: ServiceStats, changes: tuple[ChangeSink, ChangeLog]
) -> dict[str, dict[str, float]]:
    """The change points found since the last poll: new ones to the file (and the log line),
    counted; their alert signals (every series' recent ones) returned."""
    sink, change_log = changes
    taken = sink.take()
    try:
        new = await asyncio.to_thread(change_log.record, taken)
    except BaseException:
        sink.pending = taken + sink.pending  # not lost: tried again on the next poll
        raise
    stats.counters["change_points"] += len(new)
    streams = sink.detection.streams()
    stats.gauges["change_streams"] = len(streams)
    change_log.streams = {(m, s, d) for m, s, detectors in streams for d in detectors}
    stats.gauges["untracked_segment_rows"] = sink.detection.untracked_segment_rows
    return change_log.signals(time.time(), settings.change_alert_hold)


def _render(
    summary: LogSummary, points: list[ChangePoint], target: Path, classifiers: frozenset[str]
) -> None:
    now = datetime.now(UTC)
    render_error_groups(summary.error_groups(), target, now)
    over_time = metrics_over_time(summary)
    render_metrics_over_time(over_time, target.with_name(OVER_TIME_FILE), now, points, classifiers)
