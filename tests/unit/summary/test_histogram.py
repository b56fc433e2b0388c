"""Histogram bins and the binned KDE behind the PNG's and the dashboard's curves."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import gaussian_kde

from mlmon.summary.histogram import binned_kde, count_density, histogram_edges, silverman_bandwidth


def realistic_errors(n: int, seed: int = 0) -> np.ndarray:
    return np.abs(np.random.default_rng(seed).normal(0, 50, n))


def test_density_peak_is_on_the_count_scale() -> None:
    """The curve is in rows per bin, so its peak is close to the tallest bar, not near zero."""
    errors = realistic_errors(2000)
    edges = histogram_edges(errors)
    counts, _ = np.histogram(errors, bins=edges)
    _, curve = count_density(errors, edges)
    assert 0.7 * counts.max() < curve.max() < 1.3 * counts.max()


def test_density_integrates_to_the_row_count() -> None:
    """Integrated over the axis, the scaled curve holds about every row's share of the bars."""
    errors = realistic_errors(5000, seed=1)
    edges = histogram_edges(errors)
    grid, curve = count_density(errors, edges)
    bin_width = edges[1] - edges[0]
    assert np.trapezoid(curve, grid) / bin_width == pytest.approx(len(errors), rel=0.03)


def test_binned_kde_matches_an_exact_gaussian_kde() -> None:
    """Away from a boundary the binned KDE agrees with scipy's exact one."""
    values = np.random.default_rng(2).normal(10, 3, 3000)  # negative-free reflection not used
    values = values[values > 0]
    low, high = float(values.min()), float(values.max())
    grid, density = binned_kde(values, low, high)
    bandwidth = silverman_bandwidth(values)
    exact = gaussian_kde(values, bw_method=bandwidth / values.std(ddof=1))(grid)
    middle = (grid > low + 4 * bandwidth) & (grid < high - 4 * bandwidth)
    assert np.abs(density[middle] - exact[middle]).max() < 0.02 * exact.max()
