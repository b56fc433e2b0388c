"""What `mlmon up` shows while it runs: records sent, predicted, joined, current MAE.

Sent/predicted/dead-lettered come from the services' status files; joined and MAE come from
metric_log.csv itself, the ground truth, counting only rows written since `up` started.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlmon.error_log import ErrorLogReader
from mlmon.log_layout import METRIC_LOG
from mlmon.status import pending_halves, read_statuses, totals

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


class Progress:
    def __init__(self, logs_dir: Path, statuses: StatusSource) -> None:
        """`statuses` gives the services' status dicts: live objects or their files."""
        self._statuses = statuses
        self._reader = ErrorLogReader(logs_dir / METRIC_LOG)
        self._reader.poll()
        self._baseline = self._reader.count  # rows written before this run

    def snapshot(self) -> Snapshot:
        self._reader.poll()
        if self._reader.count < self._baseline:  # the log was replaced
            self._baseline = 0
        statuses = self._statuses()
        features, model, metric = (
            totals(statuses, name) for name in ("features", "model", "metric")
        )
        fresh = self._reader.errors[self._baseline :]
        pending = sum(pending_halves(statuses).values())
        return Snapshot(
            sent=features["sent"],
            predicted=model["predicted"],
            joined=len(fresh),
            mae=float(fresh.mean()) if len(fresh) else math.nan,
            dead_lettered=model["dead_lettered"] + metric["dead_lettered"],
            pending=pending,
        )
