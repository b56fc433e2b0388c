"""The live quality monitor the metric service feeds and Prometheus reads (drift: drift.py).

The services update them from the event loop while prometheus-client scrapes from its own
thread, so each monitor guards its state with a lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import numpy as np
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlmon.arrays import Floats
from mlmon.join.joined import Joined, JoinedPart, ScoreColumns
from mlmon.metric_log.cells import ScoreMatrix
from mlmon.monitoring.quality import QualityTracker, RegressionFigures
from mlmon.monitoring.quality.figures import WindowFigures
from mlmon.monitoring.quality.scores import ScoreFigures
from mlmon.ops.score_windows import SCORE_GAUGES, ScoreWindows
from mlmon.settings import Settings
from mlmon.wire.labels import code_mask

log = logging.getLogger(__name__)

FOLD_ROWS = 4096  # joined records LiveQuality gathers before it hands them to its tracker

_CLASSIFICATION_GAUGES = {
    "accuracy": "share of right labels",
    "precision": "macro precision",
    "recall": "macro recall",
    "f1": "macro F1",
}
_WINDOW_GAUGES = {
    "mae": "mean absolute error",
    "rmse": "root mean squared error",
    "r2": "coefficient of determination",
    "bias": "mean of y_pred - y_true",
    "count": "records in the window",
}


# A joined part waiting to be folded: its model (or per-row models), y_true, y_pred, join
# times, scores and tags cells, and those scores as numbers.
Waiting = tuple[str | list[str], Floats, Floats, Floats, list[str] | None, ScoreColumns | None]


def _score_matrix(waiting: list[Waiting]) -> ScoreMatrix | None:
    """The waiting parts' scores as one matrix when every part that has cells brought its
    scores as numbers too (batches joined whole), else None: the cells are parsed then."""
    if any(part[4] is not None and part[5] is None for part in waiting):
        return None
    if any(part[5] is not None and len(set(part[5][0])) < len(part[5][0]) for part in waiting):
        return None  # keys of one class ("1", "1.0"): the parser adds them up
    matrices = [
        ScoreMatrix.empty(len(part[1])) if part[5] is None else ScoreMatrix.of_columns(*part[5])
        for part in waiting
    ]
    classes = tuple(dict.fromkeys(code for m in matrices for code in m.classes))
    return ScoreMatrix(classes, np.concatenate([m.aligned(classes) for m in matrices]))


def _extras(waiting: list[Waiting]) -> list[str] | None:
    """The waiting parts' scores and tags cells as one list ("" for a row of none), or None
    when no part has any."""
    if all(part[4] is None for part in waiting):
        return None
    return [cell for part in waiting for cell in (part[4] or [""] * len(part[1]))]


def _score_details(figures: ScoreFigures) -> dict[str, Any]:
    return {
        "scored_rows": figures.scored_rows,
        **{name: getattr(figures, field) for name, (field, _) in SCORE_GAUGES.items()},
        # The classes scored (codes), so that a reader of the status can tell a true label
        # of a class the model never gives (the report's unknown_class).
        "score_classes": [*figures.roc_auc_classes, *figures.roc_auc_skipped],
    }


def _classified(part: JoinedPart) -> bool:
    """Whether joined rows are a classifier's: a class label as a value, or scores."""
    if part.extras is not None and any(e and e[0] != "," for e in part.extras):
        return True
    return bool(code_mask(part.y_true).any() or code_mask(part.y_pred).any())


class LiveQuality(Collector):
    """Rolling quality per model and window; exported as mlmon_window_* gauges."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.tracker = QualityTracker(
            count_windows=(settings.quality_window,),
            time_windows=(settings.quality_seconds,),
            mode=settings.task,
        )
        # Classifiers' score figures over the same two windows (ops/score_windows.py).
        self.scores = ScoreWindows(settings.quality_window, settings.quality_seconds)
        self._lock = threading.Lock()
        self._warned_unusable = False
        # Rows not yet folded: per part, its (model or per-row models, y_true, y_pred, at,
        # scores and tags cells or None).
        self._waiting: list[Waiting] = []
        self._waiting_rows = 0

    def add(self, joined: Joined) -> None:
        """Take joined records. They wait until FOLD_ROWS of them are here or someone reads
        the windows: the tracker's numpy work costs about the same per call whatever the
        size, and at moderate rates the metric joins many small batches a second."""
        with self._lock:
            for part in joined.parts():
                if self.tracker.mode == "regression" and _classified(part):
                    self._classify()
                models = part.model if part.model is not None else part.models
                self._waiting.append(
                    (models, part.y_true, part.y_pred, part.joined_at, part.extras, part.scores)
                )
                self._waiting_rows += len(part)
            if self._waiting_rows >= FOLD_ROWS:
                self._fold()

    def _classify(self) -> None:
        """Class labels or scores came though MLMON_TASK says regression (a model that says
        its task through its records): the windows restart with classification figures."""
        log.info("predictions carry class labels or scores: quality figures are classification's")
        settings = self._settings
        self._waiting, self._waiting_rows = [], 0
        self.tracker = QualityTracker(
            count_windows=(settings.quality_window,),
            time_windows=(settings.quality_seconds,),
            mode="classification",
        )
        self.scores = ScoreWindows(settings.quality_window, settings.quality_seconds)

    def snapshot(self, now: float) -> dict[str, dict[str, WindowFigures]]:
        with self._lock:
            self._fold()
            return self.tracker.snapshot(now)

    def score_snapshot(self, now: float) -> dict[str, dict[str, ScoreFigures]]:
        """Model -> count or time window -> score figures, for classifiers that gave scores."""
        with self._lock:
            self._fold()
            view = self.scores.view()
        return view.figures(now)

    def details(self, now: float) -> dict[str, dict[str, dict[str, Any]]]:
        """The figures as the status file holds them: each window's, with a classifier's
        score figures (`scored_rows`, `log_loss`, `brier`, `roc_auc`, `ece`) where it gave
        scores."""
        with self._lock:
            self._fold()
            figures, view = self.tracker.snapshot(now), self.scores.view()
        scores = view.figures(now)
        details = {
            model: {window: f.to_dict() for window, f in windows.items()}
            for model, windows in figures.items()
        }
        for model, windows in scores.items():
            for window, score in windows.items():
                if window in details.get(model, {}):
                    details[model][window].update(_score_details(score))
        return details

    def _fold(self) -> None:
        """The waiting records into the tracker, one numpy batch per model (usually one)."""
        if not self._waiting:
            return
        waiting, self._waiting, self._waiting_rows = self._waiting, [], 0
        scored = self.tracker.mode == "classification"
        # Scores stay text here: JSON costs 1-2 us a row, so ScoreWindows keeps only the rows its
        # windows can still hold and parses them when a snapshot first reads them.
        extras = _extras(waiting) if scored else None
        matrix = _score_matrix(waiting) if scored else None
        y_true = np.concatenate([part[1] for part in waiting])
        y_pred = np.concatenate([part[2] for part in waiting])
        at = np.concatenate([part[3] for part in waiting])
        with np.errstate(over="ignore", invalid="ignore"):
            usable = np.isfinite(y_pred - y_true)  # finite values whose error is finite too
        every_row = bool(usable.all())
        # Rows written to the log with an infinite error would spoil the windows' sums for
        # good: they are left out, and that is said once.
        if not every_row and not self._warned_unusable:
            self._warned_unusable = True
            log.warning(
                "the quality windows leave out rows whose error is not finite "
                "(first: y_true=%r, y_pred=%r)",
                float(y_true[~usable][0]),
                float(y_pred[~usable][0]),
            )
        first = waiting[0][0]
        if every_row and isinstance(first, str) and all(part[0] == first for part in waiting):
            self.tracker.add_many(first, y_true, y_pred, at)
            if scored:
                self.scores.add(first, y_true, at, extras, matrix)
            return
        models: list[str] = []
        for part in waiting:
            models += [part[0]] * len(part[1]) if isinstance(part[0], str) else part[0]
        by_model: dict[str, list[int]] = defaultdict(list)
        for index, model in enumerate(models):
            if usable[index]:
                by_model[model].append(index)
        for model, rows in by_model.items():
            self.tracker.add_many(model, y_true[rows], y_pred[rows], at[rows])
            if scored:
                cells = None if extras is None else [extras[i] for i in rows]
                numbers = None if matrix is None else matrix.select(np.array(rows, dtype=np.intp))
                self.scores.add(model, y_true[rows], at[rows], cells, numbers)

    def describe(self) -> Iterator[Metric]:
        """The families' names, so that a scrape asking for other names (`?name[]=...`)
        skips the snapshot (it holds the event loop's GIL over every row in the windows)."""
        families, labelled, quantiles = self._families()
        yield from families.values()
        yield from labelled.values()
        yield quantiles
        yield from _score_families().values()

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        snapshot = self.snapshot(now)
        scored = self.score_snapshot(now)
        families, labelled, quantiles = self._families()
        score_families = _score_families()
        for model, windows in snapshot.items():
            for window, figures in windows.items():
                if not isinstance(figures, RegressionFigures):
                    for name, family in labelled.items():
                        value = getattr(figures, name)
                        if value is not None:
                            family.add_metric([model, window], float(value))
                    families["count"].add_metric([model, window], float(figures.count))
                    score = scored.get(model, {}).get(window)
                    for name, family in score_families.items() if score is not None else ():
                        value = getattr(score, SCORE_GAUGES[name][0])
                        if value is not None:
                            family.add_metric([model, window], float(value))
                    continue
                for name, family in families.items():
                    value = getattr(figures, name)
                    if value is not None:
                        family.add_metric([model, window], float(value))
                for quantile, value in (
                    ("0.5", figures.abs_error_p50),
                    ("0.9", figures.abs_error_p90),
                    ("0.99", figures.abs_error_p99),
                ):
                    if value is not None:
                        quantiles.add_metric([model, window, quantile], value)
        yield from families.values()
        yield from labelled.values()
        yield quantiles
        yield from score_families.values()

    @staticmethod
    def _families() -> tuple[
        dict[str, GaugeMetricFamily], dict[str, GaugeMetricFamily], GaugeMetricFamily
    ]:
        families = {
            name: GaugeMetricFamily(
                "mlmon_window_records" if name == "count" else f"mlmon_window_{name}",
                help_text,
                labels=["model", "window"],
            )
            for name, help_text in _WINDOW_GAUGES.items()
        }
        quantiles = GaugeMetricFamily(
            "mlmon_window_abs_error_quantile",
            "absolute error quantile",
            labels=["model", "window", "quantile"],
        )
        labelled = {
            name: GaugeMetricFamily(f"mlmon_window_{name}", help_text, labels=["model", "window"])
            for name, help_text in _CLASSIFICATION_GAUGES.items()
        }
        return families, labelled, quantiles


def _score_families() -> dict[str, GaugeMetricFamily]:
    return {
        name: GaugeMetricFamily(f"mlmon_window_{name}", help_text, labels=["model", "window"])
        for name, (_, help_text) in SCORE_GAUGES.items()
    }
