"""The dashboard's view of the pipeline, refreshed from the metric log and the status files.

The log is read once, incrementally, into a `DashboardLog`: a `LogSummary` (the regression
figures, as the plot's) and a `Classifiers` (the classifiers' counts). A model the report would
call a classifier (`model_kind`) is shown with classification figures (the
`classifiers`, `accuracy_over_time` and `confusion` keys) and left out of the regression ones,
so a log with both kinds shows each its own way; a regression log's figures are as before.
A `SegmentSummary` keeps each model's quality per tag value (the `segments` key).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlmon.dashboard.aggregates import (
    Rates,
    data_quality_reports,
    drift_reports,
    error_histogram,
    firing_alerts,
    latest_pairs,
    metrics_over_time,
    model_summaries,
    pipeline_health,
)
from mlmon.dashboard.class_aggregates import (
    accuracy_over_time,
    classifier_summaries,
    confusion_tables,
)
from mlmon.dashboard.classifiers import Classifiers
from mlmon.metric_log.reader import RowBlock
from mlmon.metric_log.shards import MergedLogReader
from mlmon.monitoring.quality.figures import Mode
from mlmon.ops.by_time import ByTimeFile, dashboard_view
from mlmon.ops.changes import ChangeFile
from mlmon.ops.estimation import estimation_report
from mlmon.settings import ENV_PREFIX
from mlmon.summary.log_summary import LogSummary
from mlmon.summary.segments import SegmentSummary

log = logging.getLogger(__name__)


class DashboardLog:
    """The `RowSink` the dashboard reads the log into: each block goes to every part."""

    def __init__(self, task: Mode = "regression") -> None:
        self.summary = LogSummary()
        self.classifiers = Classifiers(task)
        self.segments = SegmentSummary()
        self.columns = tuple(
            dict.fromkeys(
                (*self.summary.columns, *self.classifiers.columns, *self.segments.columns)
            )
        )

    def add(self, block: RowBlock) -> None:
        self.summary.add(block)
        self.classifiers.add(block)
        self.segments.add(block)

    def reset(self) -> None:
        self.summary.reset()
        self.classifiers.reset()
        self.segments.reset()


# The log's figures, by their key in the snapshot, and what each is before it is computed.
LOG_FIGURES: dict[str, Callable[[DashboardLog], Any]] = {
    "models": lambda log: model_summaries(log.summary, log.classifiers.models),
    "histogram": lambda log: error_histogram(log.summary, log.classifiers.models),
    "over_time": lambda log: metrics_over_time(log.summary, leave_out=log.classifiers.models),
    "scatter": lambda log: latest_pairs(log.summary, leave_out=log.classifiers.models),
    "classifiers": lambda log: classifier_summaries(log.classifiers),
    "accuracy_over_time": lambda log: accuracy_over_time(log.classifiers),
    "confusion": lambda log: confusion_tables(log.classifiers),
    "segments": lambda log: log.segments.view(log.classifiers.models),
}
EMPTY_FIGURES: dict[str, Any] = {
    "models": [],
    "histogram": {"edges": [], "models": []},
    "over_time": {"axis": "time", "width": 0, "start": [], "models": []},
    "scatter": [],
    "classifiers": [],
    "accuracy_over_time": {"axis": "time", "width": 0, "start": [], "models": []},
    "confusion": [],
    "segments": {"worst": [], "listed": 0, "tested": 0, "keys": []},
}
# The log's figures come from its summary, so their cost does not grow with the log;
# recomputing them at most once per this many times their last cost still caps the
# dashboard's share of a core on a slow machine.
COST_MULTIPLE = 5.0


class DashboardState:
    """The latest snapshot the page is sent, and a version that changes with it."""

    def __init__(self, logs_dir: Path, task: Mode | None = None) -> None:
        # A classification task makes every model a classifier, as in the report; the service
        # passes the run's task, and a caller without settings gets MLMON_TASK's.
        self.task: Mode = task or _task_from_environment()
        self.log = DashboardLog(self.task)
        self.summary = self.log.summary
        self.reader = MergedLogReader(logs_dir, self.log)
        self._changes = ChangeFile(logs_dir)
        # The plot service's quality_by_time.csv, not a second ByTimeSink on this reader: the
        # page shows what a notebook reads, and the buckets are kept once.
        self._by_time = ByTimeFile(logs_dir)
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
            "task": self.task,
            "skipped_rows": self.reader.skipped,
            **self._log_figures,
            "health": pipeline_health(statuses, self._rates.update(statuses, now)),
            "drift": drift_reports(statuses),
            "data_quality": data_quality_reports(statuses),
            "alerts": firing_alerts(statuses),
            "change_points": self._changes.latest(),
            "by_time": dashboard_view(self._by_time.rows()),
            "estimation": estimation_report(statuses),
        }
        return self.latest

    def _computed(self, name: str, figure: Callable[[DashboardLog], Any]) -> Any:
        """The figure, or, if computing it fails, the last one computed (empty if none): one
        failing figure must not freeze the rest of the page (statuses, alerts, health)."""
        try:
            value = figure(self.log)
        except Exception:
            if name not in self._failing:
                log.exception("could not compute the dashboard's %s; keeping the last", name)
            self._failing.add(name)
            return self._log_figures.get(name, EMPTY_FIGURES[name])
        if name in self._failing:
            log.info("the dashboard's %s is computed again", name)
            self._failing.discard(name)
        return value


def _task_from_environment() -> Mode:
    """MLMON_TASK as the settings read it; anything but "classification" is regression."""
    value = os.environ.get(f"{ENV_PREFIX}TASK", "")
    return "classification" if value == "classification" else "regression"
