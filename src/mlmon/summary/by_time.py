"""`ByTimeSink`: the metric log's rows into quality by event time, and its CSV form.

Each provisional bucket says so until `max_label_wait` has passed since its end; then it is
final. The file (`logs/quality_by_time.csv`) is rewritten whole, atomically, so a notebook
never reads half of it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from mlmon.arrays import Floats, rows_by_model
from mlmon.metric_log.append import format_rows
from mlmon.metric_log.cells import ScoreMatrix
from mlmon.metric_log.reader import RowBlock
from mlmon.monitoring.quality.by_time import ByEventTime
from mlmon.monitoring.quality.figures import Mode, classifiers_of, decided_kind
from mlmon.monitoring.quality.scores import EPS, normalized, true_probability

BY_TIME_FILE = "quality_by_time.csv"
BY_TIME_COLUMNS = (
    "model", "bucket_start", "bucket_end", "state", "rows", "predicted", "completeness",
    "mae", "rmse", "bias", "accuracy", "f1", "log_loss",
    "est_mae", "est_rmse", "est_accuracy", "est_precision", "est_recall", "est_f1",
    "estimate_error",
)  # fmt: skip


class ByTimeSink:
    """Feeds `ByEventTime` block by block (a model's rows are a classifier's by the task
    setting, a class label written as text, or scores)."""

    columns = ("sent_at", "y_true", "y_pred", "scores")

    def __init__(self, task: Mode = "regression") -> None:
        self.task = task
        self.by_time = ByEventTime()
        # Each model's kind, decided on its first usable rows as the dashboard and the report
        # decide it (`model_kind`): the over-time picture draws a classifier's error rate (the
        # mean of a 0/1 error), not an MAE and RMSE.
        self.kinds: dict[str, Mode] = {}

    def add(self, block: RowBlock) -> None:
        if not len(block):
            return
        sent_at, y_true, y_pred = (block.column(n) for n in ("sent_at", "y_true", "y_pred"))
        usable = np.isfinite(y_true) & np.isfinite(y_pred)
        classified = (
            np.ones(len(block), dtype=np.bool_) if self.task == "classification"
            else block.classified()
        )  # fmt: skip
        for code, rows in rows_by_model(block.codes):
            part = classified[rows]
            is_class = bool(part.any())
            name = block.names[code] or "model"  # as metrics_over_time names it
            decided_kind(self.kinds, self.task, name, usable[rows], part)
            loss = _log_loss(block.scores, y_true, rows) if is_class else None
            self.by_time.add(
                block.names[code], sent_at[rows], y_true[rows], y_pred[rows],
                block.errors[rows], is_class, loss,
            )  # fmt: skip

    @property
    def classifiers(self) -> frozenset[str]:
        """The names of the models that are classifiers."""
        return classifiers_of(self.kinds)

    def reset(self) -> None:
        self.by_time.reset()
        self.kinds.clear()


def _log_loss(scores: ScoreMatrix | None, y_true: Floats, rows: Any) -> Floats | None:
    """Per row, -log p(true) (clipped as scikit-learn does); NaN for a row without scores."""
    if scores is None or not scores.classes:
        return None
    part = scores.select(rows)
    scored = part.scored()
    loss = np.full(len(part), np.nan)
    if scored.any():
        p_true = true_probability(
            normalized(part.values[scored]), part.classes, y_true[rows][scored]
        )
        loss[scored] = -np.log(np.clip(p_true, EPS, 1 - EPS))
    return loss


def by_time_rows(
    buckets: list[dict[str, Any]], now: float, max_label_wait: float
) -> list[dict[str, Any]]:
    """The buckets with their end and state: final once `max_label_wait` has passed since
    their end, else provisional; the estimate's error only for a final bucket."""
    out = []
    for bucket in buckets:
        end = bucket["start"] + bucket["width"]
        state = "final" if now - end >= max_label_wait else "provisional"
        row = {**bucket, "end": end, "state": state}
        if state != "final" and "estimate_error" in row:
            # against the labels so far, not the bucket's figure: not the estimate's error yet
            row["estimate_error"] = None
        out.append(row)
    return out


def write_by_time(path: Path, rows: list[dict[str, Any]]) -> None:
    """quality_by_time.csv, replaced atomically."""

    def finite(value: Any) -> Any:
        return None if isinstance(value, float) and not math.isfinite(value) else value

    cells = [
        (
            row["model"],
            row["start"],
            row["end"],
            row["state"],
            row["rows"],
            *(finite(row.get(name)) for name in BY_TIME_COLUMNS[5:]),  # None: unknown
        )
        for row in rows
    ]
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(format_rows([BY_TIME_COLUMNS, *cells]))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
