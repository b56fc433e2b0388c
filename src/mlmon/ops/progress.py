"""What `mlmon up` shows while it runs: records sent, predicted, joined, current MAE.

Sent/predicted/dead-lettered and the MAE come from the services' statuses (the MAE is the
metric service's `all` window: every row since that process started, refreshed every
status_interval); joined is counted in metric_log.csv itself, the ground truth, only rows
written since `up` started, through the metric log's `LineTail`. Rows are counted by their line
ends, without parsing: parsing them here as well would take CPU the pipeline needs at full rate.
(An id with a line break inside, quoted in the CSV, would count twice; mlmon's ids have none.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlmon.metric_log.layout import METRIC_LOG
from mlmon.metric_log.tail import LineTail
from mlmon.ops.status import pending_halves, read_statuses, totals

StatusSource = Callable[[], list[dict[str, Any]]]


def status_files(state_dir: Path, since: float) -> StatusSource:
    """Statuses as the services' processes last wrote them (up to status_interval old)."""
    return lambda: read_statuses(state_dir, since)


@dataclass(frozen=True)
class Snapshot:
    sent: int
    predicted: int
    joined: int
    mae: float
    dead_lettered: int
    pending: int

    def line(self) -> str:
        mae = "-" if math.isnan(self.mae) else f"{self.mae:.2f}"
        return (
            f"sent {self.sent:,} | predicted {self.predicted:,} | joined {self.joined:,} | "
            f"MAE {mae} | pending {self.pending:,} | dead-lettered {self.dead_lettered:,}"
        )


class RowCounter:
    """Complete rows of a CSV file with a header line, counted by line ends as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines = LineTail(path)
        self._count = 0  # lines read, the header included

    def poll(self) -> int:
        self._lines.read(self._take, self._start_again)
        return max(self._count - 1, 0)

    def _take(self, lines: bytes) -> int:
        count = lines.count(b"\n")
        self._count += count
        return count

    def _start_again(self, reason: str) -> None:
        self._count = 0


def overall_mae(statuses: list[dict[str, Any]]) -> float:
    """The mean absolute error over every row the metric services joined (their "all"
    windows, weighted by rows; the error rate for classification)."""
    errors = rows = 0.0
    for status in statuses:
        if status.get("service") != "metric":
            continue
        for windows in status.get("details", {}).get("quality", {}).values():
            figures = windows.get("all") or {}
            count = figures.get("count") or 0
            mae = figures.get("mae")
            if mae is None and figures.get("accuracy") is not None:
                mae = 1.0 - figures["accuracy"]
            if count and mae is not None:
                errors += mae * count
                rows += count
    return errors / rows if rows else math.nan


class Progress:
    def __init__(self, logs_dir: Path, statuses: StatusSource) -> None:
        """`statuses` gives the services' status dicts: live objects or their files."""
        self._statuses = statuses
        self._rows = RowCounter(logs_dir / METRIC_LOG)
        self._baseline = self._rows.poll()  # rows written before this run

    def snapshot(self) -> Snapshot:
        rows = self._rows.poll()
        if rows < self._baseline:  # the log was replaced
            self._baseline = 0
        statuses = self._statuses()
        features, model, metric = (
            totals(statuses, name) for name in ("features", "model", "metric")
        )
        pending = sum(pending_halves(statuses).values())
        return Snapshot(
            sent=features["sent"],
            predicted=model["predicted"],
            joined=rows - self._baseline,
            mae=overall_mae(statuses),
            dead_lettered=model["dead_lettered"] + metric["dead_lettered"],
            pending=pending,
        )
