"""The dashboard's view of the pipeline, refreshed from the metric log and the status files."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
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
from mlmon.metric_log.layout import METRIC_LOG
from mlmon.metric_log.reader import MetricLogReader
from mlmon.summary.log_summary import LogSummary

log = logging.getLogger(__name__)

# The log's figures, by their key in the snapshot, and what each is before it is computed.
LOG_FIGURES: dict[str, Callable[[LogSummary], Any]] = {
    "models": model_summaries,
    "histogram": error_histogram,
    "over_time": metrics_over_time,
    "scatter": latest_pairs,
}
EMPTY_FIGURES: dict[str, Any] = {
    "models": [],
    "histogram": {"edges": [], "models": []},
    "over_time": {"axis": "time", "width": 0, "start": [], "models": []},
    "scatter": [],
}
# The log's figures come from its summary, so their cost does not grow with the log;
# recomputing them at most once per this many times their last cost still caps the
# dashboard's share of a core on a slow machine.
COST_MULTIPLE = 5.0


class DashboardState:
    """The latest snapshot the page is sent, and a version that changes with it."""

    def __init__(self, logs_dir: Path) -> None:
        self.summary = LogSummary()
        self.reader = MetricLogReader(logs_dir / METRIC_LOG, self.summary)
        self._rates = Rates()
        self._log_figures: dict[str, Any] = {}
        self._failing: set[str] = set()  # figures whose last computation raised (logged once)
        self._log_changed = False  # rows came, or the log started over, since last computed
        self._log_cost = 0.0  # seconds the last computation of the log's figures took
        self._log_computed = -math.inf  # monotonic time of it
        self.version = 0
        self.latest: dict[str, Any] = {"version": 0, "rows": 0}

    def refresh(
        self, statuses: list[dict[str, Any]], now: float | None = None, recompute: bool = False
    ) -> dict[str, Any]:
        """Read new rows; take the services' statuses (from their files, or live objects). The
        log's figures are recomputed when rows came or the log started over (at most once per
        COST_MULTIPLE times their last cost), or when asked to."""
        now = time.time() if now is None else now
        resets = self.reader.resets
        # A log cut back to its header, removed or emptied brings no rows, yet its figures
        # are gone: they must not stay on the page.
        self._log_changed |= bool(self.reader.poll()) or self.reader.resets != resets
        started = time.monotonic()
        due = started - self._log_computed >= COST_MULTIPLE * self._log_cost
        if (self._log_changed and due) or not self._log_figures or recompute:
            for name, figure in LOG_FIGURES.items():
                self._log_figures[name] = self._computed(name, figure)
            self._log_changed = False
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

    def _computed(self, name: str, figure: Callable[[LogSummary], Any]) -> Any:
        """The figure, or, if computing it fails, the last one computed (empty if none): one
        failing figure must not freeze the rest of the page (statuses, alerts, health)."""
        try:
            value = figure(self.summary)
        except Exception:
            if name not in self._failing:
                log.exception("could not compute the dashboard's %s; keeping the last", name)
            self._failing.add(name)
            return self._log_figures.get(name, EMPTY_FIGURES[name])
        if name in self._failing:
            log.info("the dashboard's %s is computed again", name)
            self._failing.discard(name)
        return value
