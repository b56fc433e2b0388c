"""`mlmon report`: the current quality figures, per model and window, read from the logs.

Read from what the metric service wrote (metric_log.csv, orphans.csv) and the services' status
files, so the report needs no broker and works on a copied logs directory. metric_log.csv is
read through the one reader of it, `MetricLogReader`, block by block into a `QualityTracker`:
the report's memory is the tracker's windows, not the log.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mlmon.arrays import rows_by_model
from mlmon.metric_log.layout import METRIC_LOG, ORPHAN_LOG
from mlmon.metric_log.reader import MetricLogReader, RowBlock
from mlmon.monitoring.quality import QualityTracker
from mlmon.ops.status import pending_halves, read_statuses, totals
from mlmon.wire import Y_PRED, Y_TRUE

JOINED_AT = "joined_at"
UNNAMED = "unknown"  # the model of rows that name none (a seed log's)
CLASSIFICATION_FIGURES = ("count", "accuracy", "precision", "recall", "f1")
FIGURES = (
    "count",
    "mae",
    "rmse",
    "mape",
    "r2",
    "bias",
    "max_abs_error",
    "abs_error_p50",
    "abs_error_p90",
    "abs_error_p99",
)


@dataclass(frozen=True)
class LogFigures:
    """Figures per model and window, and the rows they were computed from."""

    models: dict[str, dict[str, dict[str, Any]]]  # model -> window -> figure -> value
    rows: int


class _TrackedRows:
    """A `RowSink` that feeds each block's rows to a `QualityTracker`, per model, and keeps
    nothing else: the report's memory is the tracker's windows, whatever the log's length."""

    columns = (Y_TRUE, Y_PRED, JOINED_AT)

    def __init__(self, start: Callable[[], QualityTracker], now: float) -> None:
        self._start = start
        self._now = now
        self.tracker = start()
        self.rows = 0

    def add(self, block: RowBlock) -> None:
        y_true, y_pred = block.column(Y_TRUE), block.column(Y_PRED)
        at = block.column(JOINED_AT)
        at = np.where(np.isfinite(at), at, self._now)  # a seed log has no joined_at column
        usable = np.isfinite(y_true) & np.isfinite(y_pred)
        for code, rows in rows_by_model(block.codes):
            kept = usable[rows]
            trues, preds, stamps = y_true[rows][kept], y_pred[rows][kept], at[rows][kept]
            if not len(trues):
                continue
            # Rows are written in the order they were joined; a block's rows are put in that
            # order should the clock have stepped back.
            order = np.argsort(stamps, kind="stable")
            model = block.names[code] or UNNAMED
            self.tracker.add_many(model, trues[order], preds[order], stamps[order])
            self.rows += len(trues)

    def reset(self) -> None:
        self.tracker = self._start()
        self.rows = 0


def read_log(
    logs_dir: Path,
    now: float,
    count_window: int = 500,
    time_window: float = 60.0,
    task: Literal["regression", "classification"] = "regression",
) -> LogFigures:
    """Figures per model and window from metric_log.csv, read block by block (rows without a
    finite y_true and y_pred left out); none when there is no log yet."""
    sink = _TrackedRows(
        lambda: QualityTracker(
            count_windows=(count_window,), time_windows=(time_window,), mode=task
        ),
        now,
    )
    MetricLogReader(logs_dir / METRIC_LOG, sink).poll()
    models = {
        model: {window: figures.to_dict() for window, figures in windows.items()}
        for model, windows in sink.tracker.snapshot(now).items()
    }
    return LogFigures(models, sink.rows)


def count_orphans(logs_dir: Path) -> dict[str, int]:
    path = logs_dir / ORPHAN_LOG
    counts = {"y_true": 0, "y_pred": 0}
    if path.exists():
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row.get("kind") in counts:
                    counts[row["kind"]] += 1
    return counts


def build_report(
    figures: LogFigures,
    orphans: dict[str, int],
    statuses: Iterable[dict[str, Any]],
    task: Literal["regression", "classification"] = "regression",
    source: str = METRIC_LOG,
) -> dict[str, Any]:
    """Figures per model and window (`figures`: the log's, or the metric service's own, live),
    and the join's own health, as plain JSON-able data."""
    models, joined = figures.models, figures.rows
    statuses = list(statuses)
    metric = totals(statuses, "metric")
    pending = pending_halves(statuses)
    drift = next(
        (
            s["details"]["drift"]
            for s in reversed(statuses)
            if s.get("service") == "model" and "drift" in s.get("details", {})
        ),
        None,
    )
    predicted = joined + pending["y_pred"] + orphans["y_pred"]
    return {
        "task": task,
        "source": source,
        "models": models,
        "join": {
            "rows": joined,
            "label_coverage": joined / predicted if predicted else None,
            "pending": pending,
            "orphans": orphans,
            "dead_lettered": sum(
                totals(statuses, s)["dead_lettered"] for s in ("features", "model", "metric")
            ),
            "duplicates": metric["duplicates"],
        },
        "drift": drift,  # the model service's latest report, while it runs
    }


def format_report(report: dict[str, Any]) -> str:
    """A fixed-width table per model, then the join's figures."""
    lines = []
    for model, windows in report["models"].items():
        names = list(windows)
        lines.append(f"model {model}")
        lines.append(f"  {'figure':<14}" + "".join(f"{name:>14}" for name in names))
        shown = CLASSIFICATION_FIGURES if report.get("task") == "classification" else FIGURES
        for figure in shown:
            cells = "".join(f"{_cell(windows[name].get(figure)):>14}" for name in names)
            lines.append(f"  {figure:<14}{cells}")
        lines.append("")
    lines.append(f"figures from {report.get('source', METRIC_LOG)}")
    join = report["join"]
    coverage = join["label_coverage"]
    lines.append(
        f"join: {join['rows']:,} rows | label coverage "
        f"{'-' if coverage is None else f'{coverage:.1%}'} | pending y_true "
        f"{join['pending']['y_true']:,}, y_pred {join['pending']['y_pred']:,} | orphans y_true "
        f"{join['orphans']['y_true']:,}, y_pred {join['orphans']['y_pred']:,} | dead-lettered "
        f"{join['dead_lettered']:,} | duplicates {join['duplicates']:,}"
    )
    drift = report.get("drift")
    if drift:
        columns = drift["columns"]  # name -> figures
        worst = max(columns, key=lambda name: columns[name]["psi"] or 0.0)
        flagged = drift["drifted_columns"]
        lines.append(
            f"drift over the last {drift['rows']:,} rows: "
            + (f"DRIFTED {', '.join(flagged)}" if flagged else "none flagged")
            + f" | highest PSI {worst} {columns[worst]['psi'] or 0:.3f}"
        )
    if not report["models"]:
        lines.insert(0, "no rows in metric_log.csv yet\n")
    if len(report["models"]) > 1:
        lines[:0] = [*comparison(report), ""]
    return "\n".join(lines)


def comparison(report: dict[str, Any], window: str = "all") -> list[str]:
    """Champion against challengers: the models side by side over `window`, best first (lowest
    MAE; highest accuracy for classification)."""
    classification = report.get("task") == "classification"
    key, figures = ("accuracy", CLASSIFICATION_FIGURES) if classification else ("mae", FIGURES)
    models = {name: windows.get(window, {}) for name, windows in report["models"].items()}

    def rank(name: str) -> float:
        value = models[name].get(key)
        if value is None:
            return math.inf
        return -float(value) if classification else float(value)

    ranked = sorted(models, key=rank)
    width = max(14, *(len(name) + 2 for name in ranked))
    lines = [f"models side by side ({window}), best {key} first"]
    lines.append(f"  {'figure':<14}" + "".join(f"{name:>{width}}" for name in ranked))
    for figure in figures:
        cells = "".join(f"{_cell(models[name].get(figure)):>{width}}" for name in ranked)
        lines.append(f"  {figure:<14}{cells}")
    return lines


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4g}"


def current_report(
    logs_dir: Path,
    state_dir: Path,
    now: float,
    count_window: int = 500,
    time_window: float = 60.0,
    task: Literal["regression", "classification"] = "regression",
    from_log: bool = False,
) -> dict[str, Any]:
    """The running metric service's figures when it has the windows asked for; else the log's."""
    statuses = read_statuses(state_dir, since=now - 15)
    wanted = {f"last_{count_window}", f"last_{time_window:g}s", "all"}
    live = next(
        (
            s["details"]["quality"]
            for s in reversed(statuses)
            if s.get("service") == "metric"
            and not s.get("stopped")
            and s.get("details", {}).get("quality")
            and all(set(w) == wanted for w in s["details"]["quality"].values())
        ),
        None,
    )
    if from_log or live is None:
        figures = read_log(logs_dir, now, count_window, time_window, task)
        source = METRIC_LOG
    else:
        rows = sum(int(windows["all"]["count"]) for windows in live.values())
        figures, source = LogFigures(live, rows), "metric service (live)"
    return build_report(figures, count_orphans(logs_dir), statuses, task, source)
