"""Histogram bins and a binned Gaussian KDE: the pure arithmetic behind the PNG's bars and
curve and the dashboard's, so the dashboard never needs matplotlib."""

from __future__ import annotations

import math

import numpy as np

from mlmon.arrays import Floats

MIN_BINS, MAX_BINS = 10, 60
KDE_GRID = 1024
KDE_REACH = 4.0  # bandwidths either side of the data the density is evaluated on


def histogram_edges(values: Floats, low: float | None = None, high: float | None = None) -> Floats:
    """Bin edges: Freedman-Diaconis width, kept between MIN_BINS and MAX_BINS bins, from `low`
    to `high` (by default the values' own extremes; a sample's may fall short of the rows')."""
    low = float(values.min()) if low is None else low
    high = float(values.max()) if high is None else high
    if high <= low:
        pad = abs(low) * 0.1 or 0.5
        return np.array([low - pad, low + pad])
    q25, q75 = np.percentile(values, [25, 75])
    width = 2.0 * float(q75 - q25) / math.cbrt(len(values))
    bins = math.ceil((high - low) / width) if width > 0 else MIN_BINS
    return np.linspace(low, high, min(max(bins, MIN_BINS), MAX_BINS) + 1)


def silverman_bandwidth(values: Floats) -> float:
    """Silverman's rule of thumb; 0 when the values do not spread."""
    if len(values) < 2:
        return 0.0
    std = float(values.std(ddof=1))
    q25, q75 = np.percentile(values, [25, 75])
    spread = min(std, float(q75 - q25) / 1.34) or std
    return 0.9 * spread * math.pow(len(values), -0.2)


def binned_kde(values: Floats, low: float, high: float) -> tuple[Floats, Floats]:
    """A Gaussian KDE of `values` on KDE_GRID points over [low, high]; integrates to ~1.

    The values are counted into the grid's cells and the counts convolved with the kernel,
    so the cost is O(n + grid**2) rather than O(n * grid). Errors are never negative, so when
    all values are, the mass the kernel would spill below zero is reflected back.
    """
    grid = np.linspace(low, high, KDE_GRID)
    bandwidth = silverman_bandwidth(values)
    if bandwidth <= 0:
        return grid, np.zeros_like(grid)
    smallest = float(values.min())
    cells = np.linspace(
        min(low, smallest) - KDE_REACH * bandwidth, high + KDE_REACH * bandwidth, KDE_GRID
    )
    step = cells[1] - cells[0]
    # A bandwidth below the cell size would turn the curve into spikes; smooth one cell at least.
    bandwidth = max(bandwidth, step)
    counts, _ = np.histogram(
        values, bins=KDE_GRID, range=(cells[0] - step / 2, cells[-1] + step / 2)
    )
    reach = min(math.ceil(KDE_REACH * bandwidth / step), (KDE_GRID - 1) // 2)
    offsets = np.arange(-reach, reach + 1) * step
    kernel = np.exp(-0.5 * (offsets / bandwidth) ** 2) / (bandwidth * math.sqrt(2 * math.pi))
    density = np.convolve(counts.astype(np.float64), kernel, mode="same") / len(values)
    curve = np.interp(grid, cells, density, left=0.0, right=0.0)
    if smallest >= 0 and cells[0] < 0:
        curve += np.interp(-grid, cells, density, left=0.0, right=0.0)
    return grid, curve


def count_density(errors: Floats, edges: Floats, rows: int | None = None) -> tuple[Floats, Floats]:
    """The KDE of `errors` in rows per bin of the histogram with `edges` (rows * bin width);
    `rows` is how many rows `errors` stand for when they are a sample of them."""
    grid, density = binned_kde(errors, float(edges[0]), float(edges[-1]))
    rows = len(errors) if rows is None else rows
    return grid, density * rows * float(edges[1] - edges[0])
