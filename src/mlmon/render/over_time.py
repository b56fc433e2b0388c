"""metrics_over_time.png: MAE and RMSE per time bucket, one colour per model; a classifier's
error rate (its log's error column is 0 or 1: the "MAE" is the share of wrong rows and the
"RMSE" only its square root, so it is not drawn).

The same figures as the dashboard's "metrics over time" chart (`metrics_over_time`), drawn on a
bare matplotlib Figure and written atomically like the error distribution.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from mlmon.monitoring.detectors import ChangePoint
from mlmon.render.error_distribution import (
    GRID,
    INK,
    MODEL_COLORS,
    MUTED,
    format_utc,
    write_png_atomically,
)

TITLE = "Model quality over time"
WAITING = "Waiting for data: no rows in metric_log.csv yet"
FIGURE_SIZE = (12.0, 5.6)
DPI = 110


MARKERS = 20  # the latest change points marked: more would hide the lines


def render_metrics_over_time(
    over_time: dict[str, Any],
    path: Path,
    now: datetime,
    change_points: Sequence[ChangePoint] = (),
    classifiers: Collection[str] = (),
) -> None:
    """Draw `over_time` (from dashboard.aggregates.metrics_over_time) to `path`, with the
    models' change points (not their segments') that fall in it as dotted vertical lines;
    the models named in `classifiers` as their error rate."""
    write_png_atomically(over_time_figure(over_time, now, change_points, classifiers), path)


def over_time_figure(
    over_time: dict[str, Any],
    now: datetime,
    change_points: Sequence[ChangePoint] = (),
    classifiers: Collection[str] = (),
) -> Figure:
    """The figure `render_metrics_over_time` writes."""
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    figure.text(0.06, 0.94, TITLE, fontsize=16, fontweight="bold", color=INK)
    figure.text(0.94, 0.94, f"updated {format_utc(now)}", ha="right", fontsize=9, color=MUTED)
    if not over_time.get("models"):
        figure.text(0.5, 0.5, WAITING, ha="center", va="center", fontsize=15, color=INK)
        return figure
    by_time = over_time["axis"] == "time"
    width = over_time["width"]
    unit = f"{width:g} s" if by_time else f"{width:,} rows"
    kinds = {model["model"] in classifiers for model in over_time["models"]}
    figure.text(
        0.06, 0.895, f"{_what(kinds)} per {unit}; gaps are buckets without rows",
        fontsize=10.5, color=MUTED,
    )  # fmt: skip
    # With a right axis for classifiers the plot narrows, so that the legend still fits.
    axes = figure.add_axes((0.06, 0.12, 0.62 if len(kinds) == 2 else 0.72, 0.74))
    centres = np.asarray(over_time["start"], dtype=np.float64) + width / 2
    x: Any = np.array([datetime.fromtimestamp(t, UTC) for t in centres]) if by_time else centres
    handles = []
    # Beside regressions, an error rate (0 to 1) would lie flat under MAEs in the data's units:
    # it gets an axis of its own, on the right.
    rates = _rate_axes(axes) if len(kinds) == 2 else axes
    for model, color in zip(over_time["models"], itertools.cycle(MODEL_COLORS)):
        mae = np.array([np.nan if v is None else v for v in model["mae"]], dtype=np.float64)
        rmse = np.array([np.nan if v is None else v for v in model["rmse"]], dtype=np.float64)
        classifier = model["model"] in classifiers
        (rates if classifier else axes).plot(
            x, mae, color=color, linewidth=2.0, marker="." if len(x) < 30 else None
        )
        if not classifier:
            axes.plot(x, rmse, color=color, linewidth=1.3, linestyle="--")
        total = sum(model["rows"])
        label = f"{model['model']} ({total:,} rows)"
        handles.append(Line2D([], [], color=color, linewidth=2.5, label=label))
    colors = dict(zip((m["model"] for m in over_time["models"]), itertools.cycle(MODEL_COLORS)))
    if _mark_changes(axes, over_time, change_points, colors):
        handles.append(
            Line2D([], [], color=INK, linewidth=1.2, linestyle=":", label="change point")
        )
    if len(kinds) == 2:
        solid = "MAE; error rate (right)"
    else:
        solid = "error rate" if True in kinds else "MAE"
    handles.append(Line2D([], [], color=MUTED, linewidth=2.0, label=solid))
    if False in kinds:
        handles.append(Line2D([], [], color=MUTED, linewidth=1.3, linestyle="--", label="RMSE"))
    right = 1.01 if rates is axes else 1.13  # clear of the right axis' ticks and label
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(right, 1.0), frameon=False)
    axes.set_ylim(bottom=0)
    if rates is not axes:
        rates.set_ylim(bottom=0)  # after the lines: matplotlib fixes the top where it stands
    if kinds == {True}:
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    axes.set_ylabel("error rate" if kinds == {True} else "error", color=INK)
    # The axis spans the buckets drawn: left to matplotlib, a single bucket (a short run)
    # made it span years.
    edges = (float(centres[0]) - width / 2, float(centres[-1]) + width / 2)
    if by_time:
        low, high = (float(date2num(datetime.fromtimestamp(e, UTC))) for e in edges)  # type: ignore[no-untyped-call]
        axes.set_xlim(low, high)
        locator = AutoDateLocator()  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        axes.set_xlabel("time (UTC)", color=INK)
    else:
        axes.set_xlim(*edges)
        axes.set_xlabel("row of metric_log.csv", color=INK)
    axes.grid(True, color=GRID)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return figure


def _rate_axes(axes: Any) -> Any:
    """A right-hand axis for classifiers' error rates, from 0, in percent."""
    rates = axes.twinx()
    rates.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    rates.set_ylabel("error rate (classifiers)", color=INK)
    rates.spines["top"].set_visible(False)
    return rates


def _what(kinds: set[bool]) -> str:
    """The subtitle's account of the lines: regressions (False), classifiers (True), or both."""
    if kinds == {True}:
        return "Error rate (share of wrong rows)"
    if kinds == {False}:
        return "MAE (solid) and RMSE (dashed)"
    return "MAE (solid) and RMSE (dashed); classifiers: error rate (solid, right axis)"


def _mark_changes(
    axes: Any,
    over_time: dict[str, Any],
    change_points: Sequence[ChangePoint],
    colors: dict[str, str],
) -> bool:
    """A dotted line per model where its change points (not its segments') fall in the
    chart's span, labelled with the detectors; points closer than a hundredth of the span
    share a line, so two detectors flagging one change do not print over each other. Whether
    any line was drawn."""
    by_time = over_time["axis"] == "time"
    starts = over_time["start"]
    low, high = float(starts[0]), float(starts[-1]) + over_time["width"]
    near = (high - low) / 100
    marks: list[tuple[str, float, list[str]]] = []  # model, where, detectors
    for point in sorted(change_points, key=lambda p: p.row):
        where = point.joined_at if by_time else float(point.row)
        if point.segment or point.model not in colors or not low <= where <= high:
            continue
        name = point.detector.replace("_", "-")
        same = [m for m in marks if m[0] == point.model and where - m[1] <= near]
        if same:
            if name not in same[-1][2]:
                same[-1][2].append(name)
            continue
        marks.append((point.model, where, [name]))
    for model, where, detectors in marks[-MARKERS:]:
        x: Any = datetime.fromtimestamp(where, UTC) if by_time else where
        axes.axvline(x, color=colors[model], linestyle=":", linewidth=1.4)
        axes.annotate(
            " + ".join(detectors),
            (x, 0.99),
            xycoords=("data", "axes fraction"),
            xytext=(3, 0),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=8,
            rotation=90,
            color=colors[model],
        )
    return bool(marks)
