"""Quality by event time for people and machines: the file read back, report lines, the
alert signals of bucket selectors, and Prometheus gauges.

The plot service keeps the buckets (`summary.by_time.ByTimeSink`) and rewrites
quality_by_time.csv at every poll; the dashboard and `mlmon report` read that file (again only
when it changed), so they show what a notebook reads and the log is not read twice for it.
Prometheus cannot revise the past, so it gets per model only the latest final bucket and the
latest provisional one.
"""

from __future__ import annotations

import csv
import math
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlmon.monitoring.quality.bucket_selector import (
    BUCKET_SIGNALS,
    STATES,
    BucketSelector,
    parse_selector,
    pick,
    widened,
)
from mlmon.monitoring.quality.by_time import ByEventTime
from mlmon.ops.file_cache import ReadWhenChanged
from mlmon.summary.by_time import BY_TIME_COLUMNS, BY_TIME_FILE, by_time_rows

SHOWN = 96  # buckets per model the dashboard draws, the latest (8 hours of 5 minutes)
REPORTED = 6  # ... and `mlmon report` lists
FIGURES = (
    "mae", "rmse", "bias", "accuracy", "f1", "log_loss",
    "est_mae", "est_rmse", "est_accuracy", "est_precision", "est_recall", "est_f1",
    "estimate_error",
)  # fmt: skip
REPORT_FIGURES = (
    "mae", "rmse", "bias", "accuracy", "f1", "log_loss", "est_mae", "est_accuracy",
    "estimate_error",
)  # fmt: skip
_INTEGERS = ("bucket_start", "bucket_end", "rows")


def read_by_time(path: Path) -> list[dict[str, Any]]:
    """quality_by_time.csv's rows as dicts: numbers parsed, empty cells None, oldest first
    per model; rows that do not parse are left out."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        return []
    out = []
    for row in rows:
        try:
            parsed: dict[str, Any] = {"model": row["model"], "state": row["state"]}
            for name in BY_TIME_COLUMNS[1:]:
                if name in ("state",):
                    continue
                text = row.get(name) or ""
                number = float(text) if text else None
                parsed[name] = int(number) if name in _INTEGERS and number is not None else number
        except (KeyError, TypeError, ValueError):
            continue
        if parsed["bucket_start"] is None or parsed["state"] not in STATES:
            continue
        out.append(parsed)
    return out


class ByTimeFile:
    """quality_by_time.csv as the dashboard and the report read it: again only when it changed."""

    def __init__(self, logs_dir: Path) -> None:
        self._file: ReadWhenChanged[list[dict[str, Any]]] = ReadWhenChanged(
            logs_dir / BY_TIME_FILE, read_by_time, []
        )

    def rows(self) -> list[dict[str, Any]]:
        return self._file.get()


def headline(rows: Iterable[dict[str, Any]]) -> str:
    """The figure a model's buckets are drawn by: MAE, or accuracy for a classifier."""
    regression = ("mae", "est_mae")  # before any label a regressor has only its estimate
    figures = (row.get(name) for row in rows for name in regression)
    return "mae" if any(value is not None for value in figures) else "accuracy"


def by_model(
    rows: list[dict[str, Any]], count: int | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Per model, its latest `count` buckets (all without a count), oldest first."""
    models: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        models.setdefault(row["model"], []).append(row)
    ordered = {m: sorted(b, key=lambda row: row["bucket_start"]) for m, b in models.items()}
    return {m: b[-count:] if count else b for m, b in ordered.items()}


def latest_buckets(logs_dir: Path, count: int = REPORTED) -> list[dict[str, Any]]:
    """`mlmon report`'s buckets: per model the latest `count` in quality_by_time.csv, and its
    latest final one when older than those (a long label wait leaves only provisional ones
    among the latest)."""
    rows = read_by_time(logs_dir / BY_TIME_FILE)
    out = []
    for model, latest in by_model(rows, count).items():
        final = [r for r in rows if r["model"] == model and r["state"] == "final"]
        older = max(final, key=lambda row: row["bucket_start"], default=None)
        out += ([older] if older is not None and older not in latest else []) + latest
    return out


def dashboard_view(rows: list[dict[str, Any]], count: int = SHOWN) -> list[dict[str, Any]]:
    """The dashboard's card: per model its headline figure and latest buckets."""
    return [
        {"model": model, "figure": headline(buckets), "buckets": buckets}
        for model, buckets in by_model(rows, count).items()
    ]


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(seconds))


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def by_time_lines(rows: list[dict[str, Any]]) -> list[str]:
    """`mlmon report`'s section (`latest_buckets`): per model its buckets, newest first."""
    if not rows:
        return []
    lines = [
        f"quality by event time ({BY_TIME_FILE}, states as the plot service last wrote them; "
        "latest buckets per model, start in UTC; labelled = labelled / predicted):"
    ]
    for model, buckets in by_model(rows).items():
        shown = [f for f in REPORT_FIGURES if any(b.get(f) is not None for b in buckets)]
        lines.append(f"  {model}")
        head = f"    {'start':<17} {'width':>6} {'state':<12} {'rows':>8} {'labelled':>9}"
        lines.append(head + "".join(f"{f:>10}" for f in shown))
        for b in reversed(buckets):
            width = (b["bucket_end"] - b["bucket_start"]) / 60
            cells = "".join(f"{_figure(b.get(f)):>10}" for f in shown)
            lines.append(
                f"    {_utc(b['bucket_start']):<17} {width:>4g}m {b['state']:<12} "
                f"{b['rows']:>8,} {_share(b.get('completeness')):>9}{cells}"
            )
    return lines


def bucket_signals(
    by_time: ByEventTime, selectors: Iterable[str], now: float, max_label_wait: float
) -> dict[str, dict[str, float]]:
    """Per model, `SIGNAL[SELECTOR]` for every bucket signal and selector a rule names (a
    model without such a bucket, or a figure unknown, has no value: the rule waits)."""
    signals: dict[str, dict[str, float]] = {}
    parsed = {text: parse_selector(text) for text in set(selectors)}
    by_width: dict[int | None, list[dict[str, Any]]] = {}
    for text, selector in parsed.items():
        if selector.width not in by_width:
            buckets = (
                by_time.buckets() if selector.width is None else widened(by_time, selector.width)
            )
            by_width[selector.width] = by_time_rows(buckets, now, max_label_wait)
        for model, bucket in pick(by_width[selector.width], selector).items():
            values = signals.setdefault(model, {})
            for name in BUCKET_SIGNALS:
                value = bucket.get(name)
                if isinstance(value, int | float) and math.isfinite(value):
                    values[f"{name}[{text}]"] = float(value)
    return signals


class BucketGauges(Collector):
    """Per model, the latest final and the latest provisional bucket as gauges."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # prometheus-client collects from its own thread
        self._latest: dict[tuple[str, str], dict[str, Any]] = {}

    def update(self, rows: list[dict[str, Any]]) -> None:
        """Take the buckets with their state (`by_time_rows`)."""
        latest: dict[tuple[str, str], dict[str, Any]] = {
            (model, state): bucket
            for state in STATES
            for model, bucket in pick(rows, BucketSelector(state)).items()
        }
        with self._lock:
            self._latest = latest

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            latest = dict(self._latest)
        labels = ["model", "state"]
        families = {
            name: GaugeMetricFamily(
                f"mlmon_bucket_{name}", f"{name} of the latest bucket of event time", labels=labels
            )
            for name in FIGURES
        }
        rows = GaugeMetricFamily(
            "mlmon_bucket_rows", "labelled rows in the latest bucket of event time", labels=labels
        )
        complete = GaugeMetricFamily(
            "mlmon_bucket_completeness",
            "labelled / predicted rows in the latest bucket of event time",
            labels=labels,
        )
        start = GaugeMetricFamily(
            "mlmon_bucket_start_seconds",
            "start (Unix time) of the latest bucket of event time",
            labels=labels,
        )
        for (model, state), bucket in sorted(latest.items()):
            for name, family in families.items():
                value = bucket.get(name)
                if value is not None:
                    family.add_metric([model, state], float(value))
            rows.add_metric([model, state], float(bucket["rows"]))
            if bucket.get("completeness") is not None:
                complete.add_metric([model, state], float(bucket["completeness"]))
            start.add_metric([model, state], float(bucket["start"]))
        yield from (*families.values(), rows, complete, start)
