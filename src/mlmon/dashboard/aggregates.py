"""What the live dashboard shows, computed from the metric log and the services' status files.

Pure functions of arrays and dicts, so they are unit-tested without a server. The page gets
aggregates only (histogram counts, per-bucket metrics, a bounded sample of points), never the
rows themselves: its payload stays a few tens of kB with a million rows in the log.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmon.error_plot import count_density, histogram_edges
from mlmon.status import pending_halves, totals

FloatArray = npt.NDArray[np.float64]

TIME_BUCKETS = 60  # points per over-time series at most
SCATTER_POINTS = 400  # latest (y_true, y_pred) pairs shown per model
# Bucket widths in seconds the over-time series snaps to, so labels read well.
NICE_SECONDS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
RATE_COUNTERS = {"features": "sent", "model": "predicted", "metric": "joined"}
RATE_SECONDS = 5.0  # records/s are averaged over this long
IDLE_GAP = 300.0  # seconds without rows that start a new run in the over-time series


@dataclass(frozen=True)
class LogColumns:
    """The columns of metric_log.csv the dashboard uses, aligned row by row."""

    errors: FloatArray
    codes: npt.NDArray[np.int32]  # index into `names`
    names: tuple[str, ...]
    y_true: FloatArray
    y_pred: FloatArray
    joined_at: FloatArray  # NaN in a seed log, which has no such column


def model_summaries(log: LogColumns) -> list[dict[str, Any]]:
    """Per model: rows, MAE, RMSE, median and p90 of the error, bias (mean y_pred - y_true)."""
    summaries = []
    for code, name in enumerate(log.names):
        mine = log.codes == code
        errors = log.errors[mine]
        if not len(errors):
            continue
        bias = log.y_pred[mine] - log.y_true[mine]
        summaries.append(
            {
                "model": name or "model",
                "rows": len(errors),
                "mae": float(errors.mean()),
                "rmse": math.sqrt(float(np.mean(errors * errors))),
                "median": float(np.median(errors)),
                "p90": float(np.quantile(errors, 0.9)),
                "max": float(errors.max()),
                "bias": _finite(float(np.nanmean(bias)) if np.isfinite(bias).any() else math.nan),
            }
        )
    return summaries


def error_histogram(log: LogColumns) -> dict[str, Any]:
    """Shared bin edges; per model the counts, a density curve in rows per bin, mean, median."""
    if not len(log.errors):
        return {"edges": [], "models": []}
    edges = histogram_edges(log.errors)
    models = []
    for code, name in enumerate(log.names):
        errors = log.errors[log.codes == code]
        if not len(errors):
            continue
        counts, _ = np.histogram(errors, bins=edges)
        grid, density = count_density(errors, edges)
        models.append(
            {
                "model": name or "model",
                "counts": counts.tolist(),
                "density_x": _rounded(grid),
                "density_y": _rounded(density),
                "mean": float(errors.mean()),
                "median": float(np.median(errors)),
            }
        )
    return {"edges": _rounded(edges), "models": models}


def bucket_seconds(span: float, buckets: int = TIME_BUCKETS) -> int:
    """The smallest nice width that covers `span` seconds in at most `buckets` buckets."""
    for width in NICE_SECONDS:
        if span / width <= buckets:
            return width
    return math.ceil(span / buckets / 86400) * 86400


def metrics_over_time(log: LogColumns, buckets: int = TIME_BUCKETS) -> dict[str, Any]:
    """MAE and RMSE per time bucket (by joined_at) per model, since the last idle gap of
    IDLE_GAP seconds (the current run); by row number in a seed log."""
    times = log.joined_at
    by_time = bool(len(times)) and bool(np.isfinite(times).all())
    if not len(log.errors):
        return {"axis": "time", "width": 0, "start": [], "models": []}
    errors, codes = log.errors, log.codes
    if by_time:
        # Only the current run: a log reused across runs spans hours of idle time, which would
        # squeeze this run into one bucket.
        idle = np.flatnonzero(np.diff(times) > IDLE_GAP)
        if len(idle):
            start = int(idle[-1]) + 1
            times, errors, codes = times[start:], errors[start:], codes[start:]
        low = float(times.min())
        width: float = bucket_seconds(float(times.max()) - low, buckets)
        origin = math.floor(low / width) * width
        index = ((times - origin) // width).astype(np.int64)
    else:
        width = max(1, math.ceil(len(log.errors) / buckets))
        origin = 0.0
        index = np.arange(len(log.errors), dtype=np.int64) // int(width)
    slots = int(index.max()) + 1
    models = []
    for code, name in enumerate(log.names):
        mine = codes == code
        if not mine.any():
            continue
        own, where = errors[mine], index[mine]
        count = np.bincount(where, minlength=slots)
        total = np.bincount(where, weights=own, minlength=slots)
        squares = np.bincount(where, weights=own * own, minlength=slots)
        with np.errstate(invalid="ignore", divide="ignore"):
            mae, rmse = total / count, np.sqrt(squares / count)
        models.append(
            {
                "model": name or "model",
                "rows": count.tolist(),
                "mae": [
                    None if c == 0 else _finite(float(v)) for c, v in zip(count, mae, strict=True)
                ],
                "rmse": [
                    None if c == 0 else _finite(float(v)) for c, v in zip(count, rmse, strict=True)
                ],
            }
        )
    starts = (origin + np.arange(slots) * width).tolist()
    return {"axis": "time" if by_time else "row", "width": width, "start": starts, "models": models}


def latest_pairs(log: LogColumns, points: int = SCATTER_POINTS) -> list[dict[str, Any]]:
    """Per model, its latest `points` (y_true, y_pred) pairs, for the scatter plot."""
    sample = []
    for code, name in enumerate(log.names):
        rows = np.flatnonzero(log.codes == code)[-points:]
        if not len(rows):
            continue
        sample.append(
            {
                "model": name or "model",
                "y_true": _rounded(log.y_true[rows]),
                "y_pred": _rounded(log.y_pred[rows]),
            }
        )
    return sample


@dataclass
class Rates:
    """Records/s per service, from each process's own counter and its own status timestamps
    over the last RATE_SECONDS (a status file is rewritten about once a second, out of step with
    the dashboard's refresh; dividing by the dashboard's clock would make the rate jump)."""

    _history: dict[tuple[Any, ...], deque[tuple[float, float]]] = field(default_factory=dict)

    def update(self, statuses: list[dict[str, Any]], now: float) -> dict[str, float]:
        rates = dict.fromkeys(RATE_COUNTERS, 0.0)
        seen = set()
        for status in statuses:
            service = status.get("service")
            if service not in RATE_COUNTERS or status.get("stopped"):
                continue
            instance = (service, status.get("pid"), status.get("started_at"))
            seen.add(instance)
            history = self._history.setdefault(instance, deque(maxlen=64))
            stamp = float(status.get("updated_at", now))
            value = float(status.get("counters", {}).get(RATE_COUNTERS[service], 0))
            if not history or stamp > history[-1][0]:
                history.append((stamp, value))
            while len(history) > 2 and history[0][0] < stamp - RATE_SECONDS:
                history.popleft()
            (first_at, first), (last_at, last) = history[0], history[-1]
            if last_at > first_at and last >= first:
                rates[service] += (last - first) / (last_at - first_at)
        for gone in set(self._history) - seen:
            del self._history[gone]
        return rates


def pipeline_health(statuses: list[dict[str, Any]], rates: dict[str, float]) -> dict[str, Any]:
    """Per service: instances, how many ready, records/s; queue depths; join figures."""
    services = []
    for service in ("features", "model", "metric", "plot", "dashboard"):
        mine = [s for s in statuses if s.get("service") == service and not s.get("stopped")]
        if not mine:
            continue
        services.append(
            {
                "service": service,
                "instances": len(mine),
                "ready": sum(bool(s.get("ready")) for s in mine),
                "records_per_second": rates.get(service),
            }
        )
    queues: dict[str, int] = {}
    for status in statuses:
        for queue, depth in status.get("queue_depths", {}).items():
            queues[queue] = max(queues.get(queue, 0), int(depth))
    metric, model = totals(statuses, "metric"), totals(statuses, "model")
    return {
        "services": services,
        "queues": queues,
        "pending": pending_halves(statuses),
        "dead_lettered": int(metric["dead_lettered"] + model["dead_lettered"]),
        "duplicates": int(metric["duplicates"]),
        "orphans": int(metric["orphans"]),
    }


def drift_reports(statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest drift report of each model, columns as a list the page can draw."""
    reports: dict[str, dict[str, Any]] = {}
    for status in sorted(statuses, key=lambda s: s.get("updated_at", 0)):
        report = status.get("details", {}).get("drift")
        if status.get("service") != "model" or not report:
            continue
        reports[str(report.get("model", ""))] = {
            "model": report.get("model", ""),
            "rows": report.get("rows", 0),
            "warming_up": report.get("warming_up", True),
            "psi_threshold": report.get("psi_threshold"),
            "columns": [
                {"name": name, **figures} for name, figures in report.get("columns", {}).items()
            ],
        }
    return [reports[model] for model in sorted(reports)]  # a steady order, not update order


def firing_alerts(statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every alert firing now, with the service that raised it."""
    return [
        {**alert, "service": status.get("service")}
        for status in statuses
        if not status.get("stopped")
        for alert in status.get("details", {}).get("alerts", [])
    ]


def _per_bucket(count: npt.NDArray[np.int64], values: FloatArray) -> list[float | None]:
    """A bucket without rows is a gap (None), not a zero."""
    return [
        None if c == 0 else _finite(round(v, 4))
        for c, v in zip(count.tolist(), values.tolist(), strict=True)
    ]


def _finite(value: float) -> float | None:
    """JSON has no NaN or Infinity."""
    return value if math.isfinite(value) else None


def _rounded(values: FloatArray, digits: int = 4) -> list[float | None]:
    """Values for the page: 4 decimals are plenty on a chart and keep the payload small."""
    return [None if not math.isfinite(v) else round(v, digits) for v in values.tolist()]
