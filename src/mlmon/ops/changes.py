"""Change points as events: change_points.csv, a log line, Prometheus counters, alert signals.

The detectors run on the metric log from its top each time the plot service starts
(`summary.changes.ChangeSink`), so the same change points come again after a restart.
`ChangeLog` keeps each one once: it knows the file's rows, appends only new ones (fsync'd),
and only those are announced. A change point found again keeps the time it was first found.
"""

from __future__ import annotations

import csv
import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from mlmon.metric_log.append import AppendLog
from mlmon.metric_log.layout import CHANGE_COLUMNS, CHANGE_LOG
from mlmon.monitoring.detectors import ChangePoint
from mlmon.ops.file_cache import ReadWhenChanged

log = logging.getLogger(__name__)

_Key = tuple[int, str, str, str]  # row, model, segment, detector


@dataclass(frozen=True)
class Found:
    """A change point and when mlmon first found it."""

    point: ChangePoint
    found_at: float

    @property
    def series(self) -> str:
        """The alert series: the model, and its segment after a space."""
        return f"{self.point.model} {self.point.segment}".strip()


def _key(point: ChangePoint) -> _Key:
    return (point.row, point.model, point.segment, point.detector)


def _number(text: str) -> float:
    try:
        return float(text) if text else math.nan
    except ValueError:
        return math.nan


def _complete_lines(path: Path) -> int:
    """The offset after the file's last complete line: a row torn by a crash is cut off."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    return data.rfind(b"\n") + 1


def read_change_points(logs_dir: Path) -> list[Found]:
    """Every change point in change_points.csv, in file order (unreadable rows left out)."""
    path = logs_dir / CHANGE_LOG
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        return []
    found = []
    for row in rows:
        try:
            point = ChangePoint(
                int(row["row"]),
                row["model"],
                row["segment"],
                row["detector"],
                _number(row["joined_at"]),
                _number(row["sent_at"]),
                _number(row["mean_before"]),
                int(row["rows_before"]),
            )
        except (KeyError, TypeError, ValueError):
            continue
        found.append(Found(point, _number(row["found_at"])))
    return found


def as_dict(found: Found) -> dict[str, Any]:
    """A change point for JSON (the dashboard, the report); NaN as None."""
    point = found.point

    def finite(value: float) -> float | None:
        return value if math.isfinite(value) else None

    return {
        "row": point.row,
        "model": point.model,
        "segment": point.segment,
        "detector": point.detector,
        "joined_at": finite(point.joined_at),
        "sent_at": finite(point.sent_at),
        "mean_before": finite(point.mean_before),
        "rows_before": point.rows_before,
        "found_at": finite(found.found_at),
    }


SHOWN = 50  # change points a page lists, the latest first
REPORTED = 10  # ... and `mlmon report`


def change_lines(points: list[dict[str, Any]]) -> list[str]:
    """`mlmon report`'s lines for the latest change points (`ChangeFile.latest`)."""
    if not points:
        return []
    lines = [f"change points (latest {len(points)}, newest first):"]
    for point in points:
        segment = f" {point['segment']}" if point["segment"] else ""
        mean = point["mean_before"]
        before = (
            ""
            if mean is None
            else f", mean error {mean:.4g} over {point['rows_before']:,} rows before"
        )
        lines.append(
            f"  {point['model']}{segment}: {point['detector']} at row {point['row']:,}{before}"
        )
    return lines


class ChangeFile:
    """change_points.csv as the dashboard reads it: again only when it changed."""

    def __init__(self, logs_dir: Path) -> None:
        self._file: ReadWhenChanged[list[dict[str, Any]]] = ReadWhenChanged(
            logs_dir / CHANGE_LOG,
            lambda path: [as_dict(f) for f in reversed(read_change_points(path.parent))],
            [],
        )

    def latest(self, count: int = SHOWN) -> list[dict[str, Any]]:
        """The last `count` change points, the latest first."""
        return self._file.get()[:count]


class ChangeLog(Collector):
    """change_points.csv and what it holds, for the counters and the alert signals."""

    def __init__(self, logs_dir: Path) -> None:
        self.path = logs_dir / CHANGE_LOG
        self.found = read_change_points(logs_dir)
        self._keys = {_key(found.point) for found in self.found}
        self._file = AppendLog(self.path, CHANGE_COLUMNS)
        self._file.open(_complete_lines(self.path))
        self._lock = threading.Lock()  # prometheus-client collects from its own thread
        # (model, segment, detector) of every stream the detectors follow, exported at 0
        # before their first change point: Prometheus' increase() needs a sample before it.
        self.streams: set[tuple[str, str, str]] = set()

    def close(self) -> None:
        self._file.close()

    def record(self, points: list[ChangePoint], now: float | None = None) -> list[Found]:
        """Append the change points not in the file yet; return them (to announce)."""
        now = time.time() if now is None else now
        new = [Found(p, now) for p in points if _key(p) not in self._keys]
        if not new:
            return []
        self._file.append(
            [
                (
                    f.point.row,
                    f.point.model,
                    f.point.segment,
                    f.point.detector,
                    f.point.joined_at,
                    f.point.sent_at,
                    f.point.mean_before,
                    f.point.rows_before,
                    f.found_at,
                )
                for f in new
            ]
        )
        with self._lock:
            self.found += new
            self._keys.update(_key(f.point) for f in new)
        for found in new:
            point = found.point
            where = f" segment {point.segment}" if point.segment else ""
            log.warning(
                "change point: %s flagged model %s%s at row %d (mean error %.4g over the %d "
                "rows before)",
                point.detector,
                point.model,
                where,
                point.row,
                point.mean_before,
                point.rows_before,
            )
        return new

    def signals(self, now: float, hold: float) -> dict[str, dict[str, float]]:
        """Per series, `change_points[DETECTOR]` and `change_points[any]`: the change points
        found within the last `hold` seconds (0 for a series with none lately, so an alert
        on it resolves)."""
        signals: dict[str, dict[str, float]] = {}
        with self._lock:
            found = list(self.found)
        for item in found:
            values = signals.setdefault(item.series, {"change_points[any]": 0.0})
            name = f"change_points[{item.point.detector}]"
            values.setdefault(name, 0.0)
            if now - item.found_at <= hold:
                values[name] += 1
                values["change_points[any]"] += 1
        return signals

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "mlmon_change_points",
            "change points flagged in the error stream",
            labels=["model", "segment", "detector"],
        )
        with self._lock:
            counts = dict.fromkeys(self.streams, 0)
            for found in self.found:
                key = (found.point.model, found.point.segment, found.point.detector)
                counts[key] = counts.get(key, 0) + 1
        for labels, count in sorted(counts.items()):
            family.add_metric(list(labels), count)
        yield family
