"""The rows `mlmon report` reads from metric_log.csv, per model: `TrackedRows`, the sink its
`MetricLogReader` hands blocks to."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from mlmon.arrays import rows_by_model
from mlmon.metric_log.cells import is_label_code
from mlmon.metric_log.fields import SCORES
from mlmon.metric_log.reader import RowBlock
from mlmon.monitoring.quality import QualityTracker
from mlmon.monitoring.quality.figures import Mode, decided_kind
from mlmon.summary.class_scores import ScoreSums
from mlmon.summary.exact_errors import EXACT_ROWS, FirstErrors, RecentErrors
from mlmon.wire import Y_PRED, Y_TRUE

JOINED_AT = "joined_at"
UNNAMED = "unknown"  # the model of rows that name none (a seed log's)


class TrackedRows:
    """A `RowSink` that feeds each block's rows to a `QualityTracker` per kind of model
    (`decided_kind`), per model, and keeps a regression model's errors while few
    enough for exact quantiles (`FirstErrors`, `RecentErrors`) and a classifier's score sums
    (`ScoreSums`): the report's memory is bounded by those and the trackers' windows, whatever
    the log's length."""

    columns = (Y_TRUE, Y_PRED, JOINED_AT, SCORES)

    def __init__(
        self,
        start: Callable[[Mode], QualityTracker],
        now: float,
        seconds: float = 60.0,
        task: Mode = "regression",
        exact_rows: int = EXACT_ROWS,
    ) -> None:
        self._start = start
        self._now = now
        self._seconds = seconds
        self._exact_rows = exact_rows
        self._task: Mode = task
        self.first: dict[str, FirstErrors] = {}  # model -> its errors, while few enough
        self.recent: dict[str, RecentErrors] = {}  # model -> its time window's errors
        self.last_joined = -math.inf  # the latest joined_at (the report's time if none)
        self.reset()

    def add(self, block: RowBlock) -> None:
        y_true, y_pred = block.column(Y_TRUE), block.column(Y_PRED)
        at = block.column(JOINED_AT)
        stamped = np.isfinite(at)
        if stamped.any():
            self.last_joined = max(self.last_joined, float(at[stamped].max()))
        at = np.where(stamped, at, self._now)  # a seed log has no joined_at column
        usable = np.isfinite(y_true) & np.isfinite(y_pred)
        classified = block.classified()
        for code, rows in rows_by_model(block.codes):
            model = block.names[code] or UNNAMED
            kind = decided_kind(self.kinds, self._task, model, usable[rows], classified[rows])
            if kind is None:
                continue
            kept = usable[rows]
            if kind == "regression":  # a text label is no value to take an error of
                kept &= ~(is_label_code(y_true[rows]) | is_label_code(y_pred[rows]))
            trues, preds, stamps = y_true[rows][kept], y_pred[rows][kept], at[rows][kept]
            if not len(trues):
                continue
            if kind == "classification" and block.scores is not None:
                scores = block.scores.select(rows).select(kept)
                self.scores.setdefault(model, ScoreSums()).add(trues, scores)
            # Rows are written in the order they were joined; a block's rows are put in that
            # order should the clock have stepped back.
            order = np.argsort(stamps, kind="stable")
            trues, preds, stamps = trues[order], preds[order], stamps[order]
            self.trackers[kind].add_many(model, trues, preds, stamps)
            self.rows += len(trues)
            if kind == "classification":
                continue
            errors = np.abs(preds - trues)
            self.first.setdefault(model, FirstErrors(self._exact_rows)).add(errors)
            self.recent.setdefault(model, RecentErrors(self._seconds, self._exact_rows)).add(
                errors, stamps
            )

    def reset(self) -> None:
        self.trackers = {mode: self._start(mode) for mode in ("regression", "classification")}
        self.kinds: dict[str, Mode] = {}
        self.scores: dict[str, ScoreSums] = {}
        self.rows = 0
        self.first = {}
        self.recent = {}
        self.last_joined = -math.inf
