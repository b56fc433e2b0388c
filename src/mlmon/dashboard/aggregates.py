"""What the live dashboard shows, computed from the metric log and the services' status files.

Pure functions of a `LogSummary` and of dicts, so they are unit-tested without a server. The
page gets aggregates only (histogram counts, per-bucket metrics, a bounded sample of points),
never the rows themselves: its payload stays a few tens of kB however long the log. Rows,
MAE, RMSE, max, bias and the over-time series are exact; the median, p90, histogram and
density come from each model's sample, which is every error up to `LogSummary.sample_size`
rows and a uniform sample beyond: each figure says how many rows it was drawn from.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlmon.arrays import Floats
from mlmon.ops.report_features import latest_by_model
from mlmon.ops.status import pending_halves, totals
from mlmon.summary.error_group import pooled
from mlmon.summary.histogram import count_density, histogram_edges
from mlmon.summary.log_summary import SCATTER_POINTS, LogSummary, ModelFigures
from mlmon.summary.over_time import TIME_BUCKETS

RATE_COUNTERS = {"features": "sent", "model": "predicted", "metric": "joined"}
RATE_SECONDS = 5.0  # records/s are averaged over this long


def model_summaries(log: LogSummary, leave_out: Collection[str] = ()) -> list[dict[str, Any]]:
    """Per model: rows, MAE, RMSE, median and p90 of the error, max, bias (mean y_pred -
    y_true), and how many rows the median and p90 come from (`sample`). Models named in
    `leave_out` (classifiers, which the page shows otherwise) are left out, here and below."""
    summaries = []
    for name, model in _named(log, leave_out):
        sample = model.sample.values()
        summaries.append(
            {
                "model": name or "model",
                "rows": model.count,
                "mae": model.mae,
                "rmse": model.rmse,
                "median": float(np.median(sample)),
                "p90": float(np.quantile(sample, 0.9)),
                "max": model.high,
                "bias": _finite(model.bias),
                "sample": len(sample),
            }
        )
    return summaries


def error_histogram(log: LogSummary, leave_out: Collection[str] = ()) -> dict[str, Any]:
    """Shared bin edges; per model the rows per bin, a density curve in rows per bin, mean,
    median, and its rows and sample size (bars scaled from a sample are estimates)."""
    groups = [group for group in log.error_groups() if group.name not in leave_out]
    if not groups:
        return {"edges": [], "models": []}
    everything = pooled("all", groups)
    edges = histogram_edges(everything.sample, everything.low, everything.high)
    models = []
    for group in groups:
        heights = group.bar_heights(edges)
        grid, density = count_density(group.sample, edges, group.count)
        models.append(
            {
                "model": group.name or "model",
                "counts": np.rint(heights).astype(np.int64).tolist(),
                "density_x": _rounded(grid),
                "density_y": _rounded(density),
                "mean": group.mean,
                "median": group.median(),
                "rows": group.count,
                "sample": len(group.sample),
            }
        )
    return {"edges": _rounded(edges), "models": models}


def metrics_over_time(
    log: LogSummary, buckets: int = TIME_BUCKETS, leave_out: Collection[str] = ()
) -> dict[str, Any]:
    """MAE and RMSE per bucket per model: by joined_at since the last idle pause (the current
    run), or by row number in a log with untimed rows (a seed log); see `summary.over_time`."""
    series = log.over_time.series(log.names, buckets)
    if leave_out:
        shown = {name or "model" for name in log.names if name not in leave_out}
        series["models"] = [model for model in series["models"] if model["model"] in shown]
    return series


def latest_pairs(
    log: LogSummary, points: int = SCATTER_POINTS, leave_out: Collection[str] = ()
) -> list[dict[str, Any]]:
    """Per model, its latest `points` (at most SCATTER_POINTS) (y_true, y_pred) pairs."""
    return [
        {
            "model": name or "model",
            "y_true": _rounded(model.y_true[-points:]),
            "y_pred": _rounded(model.y_pred[-points:]),
        }
        for name, model in _named(log, leave_out)
    ]


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
    return [
        {
            "model": report.get("model", ""),
            "rows": report.get("rows", 0),
            "warming_up": report.get("warming_up", True),
            "min_rows": report.get("min_rows"),
            "psi_threshold": report.get("psi_threshold"),
            "fdr": report.get("fdr"),
            "columns": [
                {"name": name, **figures} for name, figures in report.get("columns", {}).items()
            ],
        }
        for report in latest_by_model(statuses, "drift")
    ]


def data_quality_reports(statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest data quality of each model's features, columns as a list the page draws."""
    return [
        {
            **{key: value for key, value in report.items() if key != "columns"},
            "columns": [
                {"name": name, **figures} for name, figures in report.get("columns", {}).items()
            ],
        }
        for report in latest_by_model(statuses, "data_quality")
    ]


def firing_alerts(statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every alert firing now, with the service that raised it: each with its rule (signal,
    selector, op, threshold, for_seconds), the value it fired at, its series (the model) and
    `active_since`, when its condition began to hold."""
    return [
        {**alert, "service": status.get("service")}
        for status in statuses
        if not status.get("stopped")
        for alert in status.get("details", {}).get("alerts", [])
    ]


def _named(log: LogSummary, leave_out: Collection[str]) -> list[tuple[str, ModelFigures]]:
    return [(name, model) for name, model in log.named() if name not in leave_out]


def _finite(value: float) -> float | None:
    """JSON has no NaN or Infinity."""
    return value if math.isfinite(value) else None


def _rounded(values: Floats, digits: int = 4) -> list[float | None]:
    """Values for the page: 4 decimals are plenty on a chart and keep the payload small."""
    return [None if not math.isfinite(v) else round(v, digits) for v in values.tolist()]
