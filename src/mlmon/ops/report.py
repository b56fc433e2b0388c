"""`mlmon report`: the current quality figures, per model and window, read from the logs.

Read from what the metric service wrote (metric_log.csv, orphans.csv) and the services' status
files, so the report needs no broker and works on a copied logs directory. metric_log.csv is
read through the one reader of it, `MetricLogReader`, block by block into a `QualityTracker`
(`report_rows.TrackedRows`):
the report's memory is the tracker's windows, not the log, plus up to EXACT_ROWS errors per
model and window, so that quantiles are exact (numpy's linear quantile, the PNG's) wherever a
window holds no more; past that they come from the tracker's sketch (within 0.5 %) and the
table marks them "~". Classifiers (MLMON_TASK=classification, or text labels or scores in
their rows: `class_report`) get accuracy, macro and per-class figures and the confusion matrix
by class name, and over the rows of `all` with scores, log loss, Brier, ROC AUC and ECE.

Time windows end now while the run is live (a metric service reporting, or the log written
within LIVE_SECONDS); for a finished run they end at the log's last row, so that `last_60s`
is the run's last minute rather than an empty one.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlmon.metric_log.layout import METRIC_LOG, ORPHAN_LOG, metric_logs
from mlmon.metric_log.reader import Sinks
from mlmon.metric_log.shards import MergedLogReader
from mlmon.monitoring.quality import QUANTILES, ClassificationFigures, QualityTracker
from mlmon.monitoring.quality.figures import Mode, classifiers_of
from mlmon.monitoring.quality.time_window import WINDOW_RECORDS
from mlmon.ops.by_time import by_time_lines, latest_buckets
from mlmon.ops.changes import REPORTED, ChangeFile, change_lines
from mlmon.ops.class_report import (
    LABELS,
    class_notes,
    class_tables,
    class_window,
    is_class_window,
    shown_figures,
)
from mlmon.ops.estimation import estimation_lines, estimation_report
from mlmon.ops.report_features import feature_lines, latest_by_model
from mlmon.ops.report_rows import TrackedRows
from mlmon.ops.segment_report import read_segments, segment_lines
from mlmon.ops.status import pending_halves, read_statuses, totals
from mlmon.summary.exact_errors import EXACT_ROWS, exact_quantiles
from mlmon.summary.segments import SegmentSummary

LIVE_SECONDS = 15.0  # a log written this recently, or a metric status this fresh: a live run
QUANTILE_FIGURES = ("abs_error_p50", "abs_error_p90", "abs_error_p99")
EXACT, SKETCH = "exact", "sketch"  # where a window's quantiles come from ("quantiles" key)
MAPE_UNIT = "fraction: mean of |y_pred - y_true| / |y_true| (0.12 is 12 %; the table shows %)"
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
    """Figures per model and window, the rows they were computed from, and where the time
    windows end: `now`, or the log's last row (`last_row`) for a run no longer writing."""

    models: dict[str, dict[str, dict[str, Any]]]  # model -> window -> figure -> value
    rows: int
    end: float = math.nan
    end_is: Literal["now", "last_row"] = "now"
    task: Mode | None = None  # classification if the log showed a classifier
    segments: dict[str, Any] | None = None  # `SegmentSummary.view` of the log's tags


def read_log(
    logs_dir: Path,
    now: float,
    count_window: int = 500,
    time_window: float = 60.0,
    task: Literal["regression", "classification"] = "regression",
    live: bool = True,
) -> LogFigures:
    """Figures per model and window from metric_log.csv, read block by block (rows without a
    finite y_true and y_pred left out); none when there is no log yet. Time windows end at
    `now` if `live`, else at the log's last joined_at. Quantiles are exact (and "quantiles"
    says so) where the window holds at most EXACT_ROWS rows, else the tracker's sketch."""
    sink = TrackedRows(
        lambda mode: QualityTracker(
            count_windows=(count_window,), time_windows=(time_window,), mode=mode
        ),
        now,
        time_window,
        task,
        EXACT_ROWS,
    )
    segments = SegmentSummary()
    MergedLogReader(logs_dir, Sinks(sink, segments)).poll()
    finished = not live and math.isfinite(sink.last_joined)
    end = sink.last_joined if finished else now
    timed, count = f"last_{time_window:g}s", f"last_{count_window}"
    models: dict[str, dict[str, dict[str, Any]]] = {}
    snapshots = {mode: tracker.snapshot(end) for mode, tracker in sink.trackers.items()}
    for model in sorted({*snapshots["regression"], *snapshots["classification"]}):
        if sink.kinds[model] == "classification":
            scores = sink.scores.get(model)
            models[model] = {
                window: class_window(figures, scores if window == "all" else None)
                for window, figures in snapshots["classification"][model].items()
                if isinstance(figures, ClassificationFigures)
            }
            continue
        windows = snapshots["regression"][model]
        models[model] = {window: figures.to_dict() for window, figures in windows.items()}
        models[model][count]["quantiles"] = EXACT  # computed from the window's own rows
        kept = {timed: sink.recent[model].values(end), "all": sink.first[model].values()}
        for window, errors in kept.items():
            figures = models[model][window]
            figures["quantiles"] = SKETCH if errors is None else EXACT
            if errors is not None and errors.size:
                quantiles = exact_quantiles(errors, QUANTILES)
                figures.update(zip(QUANTILE_FIGURES, quantiles, strict=True))
    classifier = "classification" in sink.kinds.values()
    kind: Mode = "classification" if classifier else task
    classifiers = classifiers_of(sink.kinds)
    return LogFigures(
        models, sink.rows, end, "last_row" if finished else "now", kind,
        segments.view(classifiers),
    )  # fmt: skip


def mark_live_quantiles(models: dict[str, dict[str, dict[str, Any]]]) -> None:
    """The metric service's own figures: its count windows' quantiles are exact, its `all`
    sketched; a time window's are sketched once it held over WINDOW_RECORDS rows (it then
    folds the oldest; the mark is by count, so it may say exact up to a window after that)."""
    for windows in models.values():
        for name, figures in windows.items():
            if "abs_error_p50" not in figures:
                continue  # classification
            timed = _seconds(name) is not None
            sketched = name == "all" or (timed and figures.get("count", 0) > WINDOW_RECORDS)
            figures.setdefault("quantiles", SKETCH if sketched else EXACT)


def count_orphans(logs_dir: Path) -> dict[str, int]:
    counts = {"y_true": 0, "y_pred": 0}
    for path in metric_logs(logs_dir, ORPHAN_LOG):
        if not path.exists():
            continue
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
    task = figures.task or task
    statuses = list(statuses)
    metric = totals(statuses, "metric")
    pending = pending_halves(statuses)
    predicted = joined + pending["y_pred"] + orphans["y_pred"]
    return {
        "task": task,
        "source": source,
        # Time windows hold the rows joined within their length before `end`.
        "time_windows": {"end": figures.end, "end_is": figures.end_is},
        "units": {"mape": MAPE_UNIT},
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
        # The latest reports of the service that sees the features (the first model's), while
        # it runs.
        "drift": next(iter(latest_by_model(statuses, "drift")), None),
        "data_quality": next(iter(latest_by_model(statuses, "data_quality")), None),
        "segments": figures.segments,
        "estimation": estimation_report(statuses),
    }


def format_report(report: dict[str, Any]) -> str:
    """A fixed-width table per model, then the join's figures."""
    lines = []
    for model, windows in report["models"].items():
        names = list(windows)
        lines.append(f"model {model}")
        lines.append(f"  {'figure':<14}" + "".join(f"{name:>14}" for name in names))
        classifier = is_class_window(windows[names[0]])
        shown = shown_figures(windows, CLASSIFICATION_FIGURES) if classifier else FIGURES
        for figure in shown:
            cells = "".join(f"{_cell(windows[name], figure):>14}" for name in names)
            lines.append(f"  {_label(figure):<14}{cells}")
        lines.append("")
        if classifier:
            lines += class_tables(windows)
    if report["models"]:
        lines += notes(report)
    lines += segment_lines(report.get("segments"))
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
    lines += feature_lines(report)
    lines += change_lines(report.get("change_points") or [])
    lines += by_time_lines(report.get("by_time") or [])
    lines += estimation_lines(report.get("estimation"))
    if not report["models"]:
        lines.insert(0, "no rows in metric_log.csv yet\n")
    if len(report["models"]) > 1:
        lines[:0] = [*comparison(report), ""]
    return "\n".join(lines)


def notes(report: dict[str, Any]) -> list[str]:
    """What the table's time window ends at, and which quantiles are estimates."""
    lines = []
    windows = [name for name in next(iter(report["models"].values())) if name != "all"]
    timed = [name for name in windows if _seconds(name) is not None]
    span = report.get("time_windows", {})
    end = span.get("end")
    if timed and isinstance(end, float) and math.isfinite(end):
        at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(end))
        if span.get("end_is") == "last_row":
            lines.append(
                f"{timed[0]}: the {_seconds(timed[0]):g} s up to the log's last row ({at}): "
                "the run is no longer writing it"
            )
        else:
            lines.append(f"{timed[0]}: the {_seconds(timed[0]):g} s up to now ({at})")
    sketched = any(
        figures.get("quantiles") == SKETCH
        for windows_of in report["models"].values()
        for figures in windows_of.values()
    )
    if sketched:
        lines.append(
            f"~ quantiles from a streaming sketch (within 0.5 %): the window holds more than "
            f"{EXACT_ROWS:,} rows, or the live figures keep no more; the others are exact"
        )
    if report.get("task") != "classification":
        lines.append("mape in percent of |y_true| (--json: a fraction)")
    else:
        lines += class_notes(report)
    return [*lines, ""]


def comparison(report: dict[str, Any], window: str = "all") -> list[str]:
    """Champion against challengers: the models side by side over `window`, best first (lowest
    MAE; highest accuracy for classification)."""
    classification = report.get("task") == "classification"
    key = "accuracy" if classification else "mae"
    figures: tuple[str, ...] = CLASSIFICATION_FIGURES if classification else FIGURES
    models = {name: windows.get(window, {}) for name, windows in report["models"].items()}

    def rank(name: str) -> float:
        value = models[name].get(key)
        if value is None:
            return math.inf
        return -float(value) if classification else float(value)

    ranked = sorted(models, key=rank)
    if classification:
        figures = shown_figures(models, figures)
    width = max(14, *(len(name) + 2 for name in ranked))
    lines = [f"models side by side ({window}), best {key} first"]
    lines.append(f"  {'figure':<14}" + "".join(f"{name:>{width}}" for name in ranked))
    for figure in figures:
        cells = "".join(f"{_cell(models[name], figure):>{width}}" for name in ranked)
        lines.append(f"  {_label(figure):<14}{cells}")
    return lines


def _label(figure: str) -> str:
    return "mape %" if figure == "mape" else LABELS.get(figure, figure)


def _seconds(window: str) -> float | None:
    """60.0 for "last_60s"; None for a count window or `all`."""
    if not (window.startswith("last_") and window.endswith("s")):
        return None
    try:
        return float(window[5:-1])
    except ValueError:
        return None


def _cell(figures: dict[str, Any], figure: str) -> str:
    value = figures.get(figure)
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if figure == "mape":
        return f"{100 * value:.4g}"
    if figure in QUANTILE_FIGURES and figures.get("quantiles") == SKETCH:
        return f"~{value:.4g}"
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
    running = [s for s in statuses if s.get("service") == "metric" and not s.get("stopped")]
    if len(running) > 1:  # metric workers each know their shard only: the merged log knows all
        live = None
    if from_log or live is None:
        live_run = metric_running(statuses) or any(
            _written_since(path, now) for path in metric_logs(logs_dir)
        )
        figures = read_log(logs_dir, now, count_window, time_window, task, live=live_run)
        source = METRIC_LOG
    else:
        rows = sum(int(windows["all"]["count"]) for windows in live.values())
        mark_live_quantiles(live)
        live = {
            model: {w: class_window(f) if is_class_window(f) else f for w, f in windows.items()}
            for model, windows in live.items()
        }
        classifiers = {model for model, windows in live.items() if is_class_window(windows["all"])}
        segments = read_segments(logs_dir, classifiers)
        figures, source = LogFigures(live, rows, now, segments=segments), "metric service (live)"
    report = build_report(figures, count_orphans(logs_dir), statuses, task, source)
    report["change_points"] = ChangeFile(logs_dir).latest(REPORTED)
    report["by_time"] = latest_buckets(logs_dir)
    return report


def metric_running(statuses: Iterable[dict[str, Any]]) -> bool:
    """A metric service has reported lately (`read_statuses` keeps the fresh ones) and not
    said it stopped: its log is still growing."""
    return any(s.get("service") == "metric" and not s.get("stopped") for s in statuses)


def _written_since(path: Path, now: float) -> bool:
    """The log was written within LIVE_SECONDS (a writer without status files: the seeds')."""
    try:
        return path.stat().st_mtime > now - LIVE_SECONDS
    except OSError:
        return False
