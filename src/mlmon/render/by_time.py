"""quality_by_time.png: per model the headline figure (MAE, or accuracy for a classifier) per
bucket of event time, and under it each bucket's label completeness.

A second PNG rather than a panel of metrics_over_time.png: that one's x axis is when rows were
joined, this one's when the predictions were made, and one axis for both would mislead.
Provisional buckets (labels may still come) are hollow points on a dashed line over a shaded
span; final ones are filled points on a solid line.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from mlmon.ops.by_time import SHOWN, headline
from mlmon.render.error_distribution import (
    GRID,
    INK,
    MODEL_COLORS,
    MUTED,
    format_utc,
    write_png_atomically,
)

BY_TIME_PNG = "quality_by_time.png"
TITLE = "Quality by prediction time"
WAITING = "Waiting for labelled rows with an event time"
SHADE = "#eef1f4"
FIGURE_SIZE = (12.0, 6.2)
DPI = 110
_NAMES = {"mae": "MAE", "accuracy": "accuracy"}


def render_quality_by_time(rows: list[dict[str, Any]], path: Path, now: datetime) -> None:
    """Draw the buckets (`summary.by_time.by_time_rows`), the latest SHOWN per model."""
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    figure.text(0.06, 0.94, TITLE, fontsize=16, fontweight="bold", color=INK)
    figure.text(0.94, 0.94, f"updated {format_utc(now)}", ha="right", fontsize=9, color=MUTED)
    models: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda row: row["start"]):
        models.setdefault(row["model"], []).append(row)
    models = {model: buckets[-SHOWN:] for model, buckets in models.items()}
    if not models:
        figure.text(0.5, 0.5, WAITING, ha="center", va="center", fontsize=15, color=INK)
        write_png_atomically(figure, path)
        return
    figure.text(
        0.06,
        0.895,
        "per bucket of event time (when the prediction was made); provisional buckets may "
        "still get labels",
        fontsize=10.5,
        color=MUTED,
    )
    top = figure.add_axes((0.06, 0.36, 0.72, 0.5))
    bottom = figure.add_axes((0.06, 0.1, 0.72, 0.2), sharex=top)
    names = {headline(buckets) for buckets in models.values()}
    handles: list[Any] = []
    _shade_provisional(top, bottom, models)
    for index, ((model, buckets), color) in enumerate(
        zip(models.items(), itertools.cycle(MODEL_COLORS))
    ):
        _draw_model(top, bottom, buckets, color, index, len(models))
        total = sum(b["rows"] for b in buckets)
        handles.append(
            Line2D([], [], color=color, linewidth=2.5, label=f"{model} ({total:,} rows)")
        )
    handles += [
        Line2D([], [], color=MUTED, marker="o", linewidth=2.0, label="final"),
        Line2D(
            [],
            [],
            color=MUTED,
            marker="o",
            markerfacecolor="white",
            linestyle="--",
            linewidth=1.5,
            label="provisional",
        ),
        Patch(facecolor=SHADE, label="provisional span"),
    ]
    if any(b.get(f"est_{headline(bs)}") is not None for bs in models.values() for b in bs):
        handles.append(
            Line2D([], [], color=MUTED, linestyle=":", marker="D", markersize=3,
                   label="estimated before labels")
        )  # fmt: skip
    top.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    top.set_ylabel(" / ".join(_NAMES.get(n, n) for n in sorted(names, reverse=True)), color=INK)
    if names == {"accuracy"}:
        top.set_ylim(0, 1.02)
    else:
        top.set_ylim(bottom=0)
    if not any(b.get("completeness") is not None for bs in models.values() for b in bs):
        bottom.text(
            0.5, 0.5, "completeness unknown: no prediction counts (the metric service keeps them)",
            transform=bottom.transAxes, ha="center", va="center", fontsize=10, color=MUTED,
        )  # fmt: skip
    bottom.set_ylim(0, 1.05)
    bottom.set_yticks([0, 0.5, 1], ["0", "50%", "100%"])
    bottom.set_ylabel("labelled", color=INK)
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    bottom.set_xlabel("event time (UTC)", color=INK)
    top.tick_params(labelbottom=False)
    for axes in (top, bottom):
        axes.grid(True, color=GRID)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
    write_png_atomically(figure, path)


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _shade_provisional(top: Any, bottom: Any, models: dict[str, list[dict[str, Any]]]) -> None:
    """A grey span from the earliest provisional bucket's start to the latest end."""
    open_buckets = [b for buckets in models.values() for b in buckets if b["state"] != "final"]
    if not open_buckets:
        return
    low = _when(min(b["start"] for b in open_buckets))
    high = _when(max(b["end"] for b in open_buckets))
    for axes in (top, bottom):
        axes.axvspan(low, high, color=SHADE, zorder=0)


def _draw_model(
    top: Any, bottom: Any, buckets: list[dict[str, Any]], color: str, index: int, count: int
) -> None:
    """One model: its figure at each bucket's middle, the line dashed into provisional
    buckets; its completeness as a bar in its share of each bucket's width."""
    name = headline(buckets)
    x = [_when(b["start"] + b["width"] / 2) for b in buckets]
    y = [float("nan") if b.get(name) is None else b[name] for b in buckets]
    final = [b["state"] == "final" for b in buckets]
    solid = [v if f else float("nan") for v, f in zip(y, final, strict=True)]
    # The dashed part starts at the last final point so that the line does not break.
    last = max((i for i, f in enumerate(final) if f), default=None)
    dashed = [
        v if not f or i == last else float("nan")
        for i, (v, f) in enumerate(zip(y, final, strict=True))
    ]
    top.plot(x, solid, color=color, linewidth=2.0, marker="o", markersize=4)
    top.plot(x, dashed, color=color, linewidth=1.5, linestyle="--")
    guess = f"est_{name}"
    estimated = [float("nan") if b.get(guess) is None else b[guess] for b in buckets]
    if any(b.get(guess) is not None for b in buckets):
        top.plot(x, estimated, color=color, linewidth=1.2, linestyle=":", marker="D", markersize=3)
    hollow = [(xi, v) for xi, v, f in zip(x, y, final, strict=True) if not f]
    if hollow:
        top.plot(
            [p[0] for p in hollow], [p[1] for p in hollow], linestyle="none", marker="o",
            markersize=5.5, markerfacecolor="white", markeredgecolor=color, markeredgewidth=1.5,
        )  # fmt: skip
    for bucket, is_final in zip(buckets, final, strict=True):
        share = bucket.get("completeness")
        if share is None:
            continue
        part = bucket["width"] / count
        bottom.bar(
            _when(bucket["start"] + index * part),
            min(share, 1.0),
            width=part * 0.85 / 86_400,  # days: the date axis' unit
            align="edge",
            color=color if is_final else "white",
            edgecolor=color,
            linewidth=1.0,
        )
