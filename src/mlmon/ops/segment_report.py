"""The worst segments in `mlmon report`: read from the log's tags (`SegmentSummary`) and
written as a table under the models' figures."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from mlmon.metric_log.layout import METRIC_LOG
from mlmon.metric_log.reader import MetricLogReader
from mlmon.summary.segments import SegmentSummary


def read_segments(logs_dir: Path, classifiers: Collection[str] = ()) -> dict[str, Any]:
    """The segments' view of the log (a read of its own: the live report reads no other)."""
    summary = SegmentSummary()
    MetricLogReader(logs_dir / METRIC_LOG, summary).poll()
    return summary.view(classifiers)


def segment_lines(view: dict[str, Any] | None) -> list[str]:
    """The worst-segments table, or a line saying none is worse (nothing without tags)."""
    if not view or not view["keys"]:
        return []
    rule = (
        f"{view['tested']} segments of at least {view['min_rows']} rows tested against the rest "
        f"of their model, one-sided, Bonferroni at {view['alpha']:g} per model"
    )
    if not view["worst"]:
        return [f"worst segments: none is worse than its model ({rule})", ""]
    lines = [f"worst segments ({rule}), worst first"]
    lines.append(
        f"  {'model':<12}{'segment':<28}{'rows':>9}{'figure':>10}{'95% interval':>20}"
        f"{'model':>10}{'worse by':>10}"
    )
    for row in view["worst"]:
        figure = row["value_of"]
        model_figure = 1 - row["model_error"] if figure == "accuracy" else row["model_error"]
        segment = f"{row['key']}={row['value']}"
        interval = f"[{_number(row['low'])}, {_number(row['high'])}]"
        lines.append(
            f"  {row['model'][:11]:<12}{segment[:27]:<28}{row['count']:>9,}"
            f"{figure[:3]} {_number(row['figure']):>6}{interval:>20}{_number(model_figure):>10}"
            f"{row['worse_by']:>+10.0%}"
        )
    if view["listed"] > len(view["worst"]):
        lines.append(f"  ... {view['listed'] - len(view['worst'])} more")
    return [*lines, ""]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
