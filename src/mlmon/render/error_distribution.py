"""The error-distribution PNG: histogram, density curve, mean and median, statistics.

Drawn on a bare `matplotlib.figure.Figure` (no pyplot, so no global state and safe in a worker
thread) and written atomically, so a reader never sees half a PNG. The density is a Gaussian
KDE computed on a binned grid, so its cost does not grow with rows times grid points, and it is
drawn on the count axis (scaled by rows * bin width) so it follows the bars.

Each model's errors come as an `ErrorGroup`: count, mean and std exact, the bars, the density
and the median from its sample, which is every error up to a cap and a uniform sample beyond
it. Then the bars are the sample's counts scaled to the model's rows, and the figure says so.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from mlmon.arrays import Floats
from mlmon.render.classification import draw_correct_shares, zero_one
from mlmon.summary.error_group import ErrorGroup, pooled
from mlmon.summary.histogram import count_density, histogram_edges

TITLE = "Distribution of absolute errors"
WAITING = "Waiting for data: no rows in metric_log.csv yet"

FIGURE_SIZE = (12.0, 6.4)  # inches
DPI = 110
AXES_BOX = (0.075, 0.12, 0.58, 0.75)  # left, bottom, width, height in figure fractions
PANEL_LEFT = 0.69  # the statistics and the legend sit right of the axes, never over bars
MAX_MODELS = 5  # further models are drawn together as "other"
NAME_WIDTH = 10  # characters of a model name shown in the statistics table

INK, MUTED, GRID = "#1f2933", "#6b7785", "#e4e8ec"
BAR, MEAN, MEDIAN = "#4c72b0", "#c44e52", "#2f8f5b"
MODEL_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#8172b3", "#937860", "#da8bc3")


@dataclass(frozen=True)
class Summary:
    """The statistics shown for one group of errors."""

    name: str
    count: int
    mean: float
    median: float
    std: float
    estimated: bool = False  # the median comes from a sample that leaves rows out

    @classmethod
    def of(cls, group: ErrorGroup) -> Summary:
        return cls(group.name, group.count, group.mean, group.median(), group.std, group.sampled)


def render_error_groups(groups: Sequence[ErrorGroup], path: Path, generated_at: datetime) -> None:
    """Write the distribution of the errors of `groups` (one per model, in the order given;
    empty ones are left out) as a PNG at `path`."""
    groups = [group for group in groups if group.count]
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)  # render with Agg whatever backend pyplot may have chosen
    classifier = zero_one(groups)
    if not classifier:
        figure.text(AXES_BOX[0], 0.945, TITLE, fontsize=16, fontweight="bold", color=INK)
    figure.text(
        0.985,
        0.02,
        f"generated at {format_utc(generated_at)}",
        ha="right",
        fontsize=8.5,
        color=MUTED,
    )
    if not groups:
        _draw_waiting(figure)
    elif classifier:
        draw_correct_shares(figure, _named(groups))
    else:
        _draw_distribution(figure, _named(groups))
    write_png_atomically(figure, path)


def format_utc(moment: datetime) -> str:
    """`moment` in UTC as text; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def write_png_atomically(figure: Figure, path: Path) -> None:
    """Save to a temporary file beside `path`, then rename it over `path`: a reader never sees
    half an image. Not fsync'd: the image is derived from the durable log and drawn again every
    interval, and syncing it made the metric's own fsyncs queue behind it on the disk, raising
    the metric service's p99 latency."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        os.fchmod(descriptor, 0o644)  # mkstemp's 0600 would hide the plot from other readers
        with os.fdopen(descriptor, "wb") as handle:
            figure.savefig(handle, format="png")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _named(groups: list[ErrorGroup]) -> list[ErrorGroup]:
    """A lone group keeps its name ("" for a log naming no model); among several, an unnamed
    model reads "(unnamed)", and models past MAX_MODELS are drawn together as "N others"."""
    if len(groups) == 1:
        return groups
    named = [
        group if group.name else replace(group, name="(unnamed)") for group in groups[:MAX_MODELS]
    ]
    if len(groups) > MAX_MODELS:
        rest = groups[MAX_MODELS:]
        others = sum(group.models for group in rest)
        named.append(pooled(f"{others} others", rest))
    return named


def _draw_waiting(figure: Figure) -> None:
    figure.text(0.5, 0.52, WAITING, ha="center", va="center", fontsize=15, color=INK)
    figure.text(
        0.5,
        0.45,
        "The plot appears once the metric service has logged a row.",
        ha="center",
        va="center",
        fontsize=10.5,
        color=MUTED,
    )


def _draw_distribution(figure: Figure, groups: list[ErrorGroup]) -> None:
    axes = figure.add_axes(AXES_BOX)
    if len(groups) == 1:
        everything = groups[0]
        named = f" from model {everything.name}" if everything.name else ""
        subtitle = _rows(everything.count) + named
    else:
        everything = pooled("all", groups)
        models = sum(group.models for group in groups)
        subtitle = f"{_rows(everything.count)} from {models} models"
    sampled = any(group.sampled for group in groups)
    if sampled:
        subtitle += "; " + _sample_note(groups)
    figure.text(AXES_BOX[0], 0.905, subtitle, fontsize=10.5, color=MUTED)
    edges = histogram_edges(everything.sample, everything.low, everything.high)
    bin_width = float(edges[1] - edges[0])
    summaries = [Summary.of(group) for group in groups]
    tallest = 0.0
    if len(groups) == 1:
        tallest = _draw_single(axes, everything, edges, summaries[0])
        handles = axes.get_legend_handles_labels()[0]
    else:
        handles = []
        for group, summary, color in zip(groups, summaries, MODEL_COLORS, strict=False):
            tallest = max(tallest, _draw_model(axes, group, edges, summary, color))
            handles.append(
                Patch(
                    facecolor=color,
                    alpha=0.5,
                    edgecolor=color,
                    label=f"{summary.name} (n={summary.count:,})",
                )
            )
        handles += [
            Line2D([], [], color=MUTED, lw=2, label="density (KDE)"),
            Line2D([], [], color=MUTED, lw=1.4, ls="--", label="mean"),
            Line2D([], [], color=MUTED, lw=1.4, ls=":", label="median"),
        ]
        summaries.insert(0, Summary.of(everything))
    _style_axes(axes, edges, tallest, bin_width, sampled)
    _draw_statistics(figure, summaries, sampled)
    figure.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(PANEL_LEFT, AXES_BOX[1]),
        frameon=False,
        fontsize=9.5,
        labelcolor=INK,
        borderaxespad=0.0,
    )


def _sample_note(groups: list[ErrorGroup]) -> str:
    """Which models' bars, density and median come from a sample, and of how many rows."""
    sampled = [group for group in groups if group.sampled]
    if len(groups) == 1:
        return (
            f"bars, density and median from a uniform sample of {len(groups[0].sample):,} of them"
        )
    sizes = {len(group.sample) for group in sampled}
    if len(sampled) == len(groups) and len(sizes) == 1:
        return f"bars, density and medians from uniform samples of {sizes.pop():,} rows per model"
    if len(sampled) == 1:
        (only,) = sampled
        return (
            f"{_short(only.name)}'s bars, density and median from a uniform sample of "
            f"{len(only.sample):,} of its rows"
        )
    named = ", ".join(f"{_short(group.name)} ({len(group.sample):,} rows)" for group in sampled)
    return f"bars, density and medians of {named} from uniform samples"


def _draw_single(axes: Axes, group: ErrorGroup, edges: Floats, summary: Summary) -> float:
    counts = group.bar_heights(edges)
    axes.bar(
        edges[:-1],
        counts,
        width=np.diff(edges),
        align="edge",
        color=BAR,
        alpha=0.8,
        edgecolor="white",
        linewidth=0.7,
        label="errors (histogram)",
    )
    tallest = float(counts.max())
    tallest = max(tallest, _draw_density(axes, group, edges, INK, "density (KDE, scaled)"))
    axes.axvline(summary.mean, color=MEAN, lw=1.8, ls="--", label=f"mean = {_number(summary.mean)}")
    axes.axvline(
        summary.median,
        color=MEDIAN,
        lw=1.8,
        ls=(0, (1, 1.5)),
        label=f"median{'*' if summary.estimated else ''} = {_number(summary.median)}",
    )
    return tallest


def _draw_model(
    axes: Axes, group: ErrorGroup, edges: Floats, summary: Summary, color: str
) -> float:
    counts = group.bar_heights(edges)
    axes.stairs(counts, edges, fill=True, color=color, alpha=0.22)
    axes.stairs(counts, edges, color=color, linewidth=1.3)
    tallest = max(float(counts.max()), _draw_density(axes, group, edges, color, None))
    axes.axvline(summary.mean, color=color, lw=1.4, ls="--")
    axes.axvline(summary.median, color=color, lw=1.4, ls=":")
    return tallest


def _draw_density(
    axes: Axes, group: ErrorGroup, edges: Floats, color: str, label: str | None
) -> float:
    """Draw the density on the count axis; return its peak in counts."""
    grid, curve = count_density(group.sample, edges, group.count)
    if not curve.any():
        return 0.0
    axes.plot(grid, curve, color=color, linewidth=2.0, label=label)
    return float(curve.max())


def _style_axes(axes: Axes, edges: Floats, tallest: float, bin_width: float, sampled: bool) -> None:
    axes.set_xlim(float(edges[0]), float(edges[-1]))
    axes.set_ylim(0, max(tallest, 1.0) * 1.08)
    axes.set_xlabel("absolute error", fontsize=11, color=INK)
    rows = "rows per bin, estimated" if sampled else "rows per bin"
    axes.set_ylabel(f"{rows} (bin width {_number(bin_width)})", fontsize=11, color=INK)
    axes.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    top = axes.get_ylim()[1]
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: _count(value, top)))
    axes.grid(axis="y", color=GRID, linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color(MUTED)
    axes.tick_params(colors=INK, labelsize=9.5)


def _draw_statistics(figure: Figure, summaries: list[Summary], sampled: bool) -> None:
    top = AXES_BOX[1] + AXES_BOX[3]
    figure.text(PANEL_LEFT, top, "Statistics", fontsize=12, fontweight="bold", color=INK, va="top")
    if len(summaries) == 1:
        only = summaries[0]
        median = "median*" if only.estimated else "median"  # the one figure a sample estimates
        rows = [
            ("mean", _number(only.mean)),
            (median, _number(only.median)),
            ("std", _number(only.std)),
            ("count", f"{only.count:,}"),
        ]
        width = max(len(value) for _, value in rows)
        table = "\n".join(f"{label:<8}{value:>{width}}" for label, value in rows)
    else:
        # A star after each median a sample estimates; exact ones keep the column aligned.
        lines = [f"{'model':<{NAME_WIDTH}} {'mean':>8} {'median':>8}  {'std':>8} {'count':>10}"]
        lines += [
            f"{_short(s.name):<{NAME_WIDTH}} {_number(s.mean):>8} {_number(s.median):>8}"
            f"{'*' if s.estimated else ' '} {_number(s.std):>8} {s.count:>10,}"
            for s in summaries
        ]
        table = "\n".join(lines)
    if sampled:
        table += "\n* from a sample; mean, std, count exact"
    figure.text(
        PANEL_LEFT,
        top - 0.055,
        table,
        family="monospace",
        fontsize=9.5 if len(summaries) == 1 else 9.0,
        color=INK,
        va="top",
        linespacing=1.55,
        bbox={"boxstyle": "round,pad=0.6", "facecolor": "#f5f7f9", "edgecolor": GRID},
    )


def _count(value: float, top: float) -> str:
    """A count on an axis reaching `top`, in at most six characters, alike on every tick."""
    if value == 0:
        return "0"
    if top >= 1e6:
        return f"{value / 1e6:.4g}M"
    if top >= 1e5:
        return f"{value / 1e3:.4g}k"
    return f"{value:,.0f}"


def _rows(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")


def _short(name: str) -> str:
    return name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 1] + "…"


def _number(value: float) -> str:
    """A statistic in at most ~8 characters: 4 significant digits, grouped thousands."""
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        digits = max(0, 3 - math.floor(math.log10(abs(value)))) if value else 0
        return f"{value:,.{digits}f}"
    return f"{value:.3g}"
