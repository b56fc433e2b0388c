"""The worst segments in `mlmon report`: read from the log's tags (`SegmentSummary`) and
written as a table under the models' figures."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from mlmon.metric_log.shards import MergedLogReader
from mlmon.summary.segments import SegmentSummary


def read_segments(logs_dir: Path, classifiers: Collection[str] = ()) -> dict[str, Any]:
    """The segments' view of the log (a read of its own: the live report reads no other)."""
    summary = SegmentSummary()
    MergedLogReader(logs_dir, summary).poll()
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
    rows = [_cells(row) for row in view["worst"]]
    header = ("model", "segment", "rows", "segment's", "95% interval", "model's", "vs model")
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]
    lines = [f"worst segments ({rule}), worst first"]
    for cells in [header, *rows]:
        left = "".join(
            f"{cell:<{width + 2}}" for cell, width in zip(cells[:2], widths, strict=False)
        )
        right = "".join(
            f"{cell:>{width + 2}}" for cell, width in zip(cells[2:], widths[2:], strict=True)
        )
        lines.append(f"  {left}{right}")
    if view["listed"] > len(view["worst"]):
        lines.append(f"  ... {view['listed'] - len(view['worst'])} more")
    return [*lines, ""]


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    figure = row["value_of"]
    model = 1 - row["model_error"] if figure == "accuracy" else row["model_error"]
    return (
        row["model"],
        f"{row['key']}={row['value']}",
        f"{row['count']:,}",
        f"{figure} {_number(row['figure'])}",
        f"[{_number(row['low'])}, {_number(row['high'])}]",
        f"{figure} {_number(model)}",
        # accuracy: points of accuracy from the model's; MAE: relative (+100% is twice)
        f"{100 * (row['figure'] - model):+.1f} pt"
        if figure == "accuracy"
        else f"{row['worse_by']:+.0%}",
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
