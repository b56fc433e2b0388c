"""The dashboard's view of the pipeline, refreshed from the metric log and the status files."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from mlmon.dashboard.aggregates import (
    Rates,
    drift_reports,
    error_histogram,
    firing_alerts,
    latest_pairs,
    metrics_over_time,
    model_summaries,
    pipeline_health,
)
from mlmon.error_log import ErrorLogReader
from mlmon.log_layout import METRIC_LOG
from mlmon.log_summary import LogSummary

# The log's figures come from its summary, so their cost does not grow with the log (~40 ms
# with two full samples); recomputing them at most once per this many times their last cost
# still caps the dashboard's share of a core on a slow machine.
COST_MULTIPLE = 5.0


class DashboardState:
    """The latest snapshot the page is sent, and a version that changes with it."""

    def __init__(self, logs_dir: Path) -> None:
        self.summary = LogSummary()
        self.reader = ErrorLogReader(logs_dir / METRIC_LOG, self.summary)
        self._rates = Rates()
        self._log_figures: dict[str, Any] = {}
        self._new_rows = 0  # rows read since the log's figures were last computed
        self._log_cost = 0.0  # seconds the last computation of the log's figures took
        self._log_computed = -math.inf  # monotonic time of it
        self.version = 0
        self.latest: dict[str, Any] = {"version": 0, "rows": 0}

    def refresh(
        self, statuses: list[dict[str, Any]], now: float | None = None, recompute: bool = False
    ) -> dict[str, Any]:
        """Read new rows; take the services' statuses (from their files, or live objects). The
        log's figures are recomputed when rows came (at most once per COST_MULTIPLE times their
        last cost), or when asked to."""
        now = time.time() if now is None else now
        self._new_rows += self.reader.poll()
        started = time.monotonic()
        due = started - self._log_computed >= COST_MULTIPLE * self._log_cost
        if (self._new_rows and due) or not self._log_figures or recompute:
            self._log_figures = {
                "models": model_summaries(self.summary),
                "histogram": error_histogram(self.summary),
                "over_time": metrics_over_time(self.summary),
                "scatter": latest_pairs(self.summary),
            }
            self._new_rows = 0
            self._log_computed = time.monotonic()
            self._log_cost = self._log_computed - started
        self.version += 1
        self.latest = {
            "version": self.version,
            "updated_at": now,
            "rows": self.reader.count,
            "skipped_rows": self.reader.skipped,
            **self._log_figures,
            "health": pipeline_health(statuses, self._rates.update(statuses, now)),
            "drift": drift_reports(statuses),
            "alerts": firing_alerts(statuses),
        }
        return self.latest
