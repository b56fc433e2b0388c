"""The drift statistics: for numbers the Population Stability Index and the two-sample
Kolmogorov-Smirnov test (as scipy computes it); for categories Pearson's chi-square test and
the Jensen-Shannon distance (scipy's)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

PSI_EPS = 1e-4


def psi(expected_props: npt.ArrayLike, actual_props: npt.ArrayLike, eps: float = PSI_EPS) -> float:
    """Population Stability Index: sum((a - e) * ln(a / e)) over bins."""
    # A bin empty on one side (a stream shifted past it) would make ln(a / e) infinite and the
    # PSI infinite whatever the rest of the bins say; clipping at eps caps each such bin's part
    # at about |p| * ln(p / eps), so a bigger shift still gives a bigger, finite, comparable PSI.
    expected = np.maximum(np.asarray(expected_props, dtype=np.float64), eps)
    actual = np.maximum(np.asarray(actual_props, dtype=np.float64), eps)
    if expected.shape != actual.shape or expected.ndim != 1:
        msg = f"psi needs two 1-D proportions of one length, got {expected.shape}, {actual.shape}"
        raise ValueError(msg)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def ks(reference_sorted: npt.ArrayLike, window_values: npt.ArrayLike) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and two-sided asymptotic p-value."""
    reference = np.asarray(reference_sorted, dtype=np.float64)
    window = np.sort(np.asarray(window_values, dtype=np.float64))
    n1, n2 = reference.size, window.size
    if n1 == 0 or n2 == 0:
        msg = f"ks needs two non-empty samples, got sizes {n1} and {n2}"
        raise ValueError(msg)
    # As scipy.stats.ks_2samp does: both empirical CDFs at every point of either sample
    # (side="right" counts ties on both sides alike), so the statistic agrees with it exactly.
    both = np.concatenate([reference, window])
    gap = (
        np.searchsorted(reference, both, side="right") / n1
        - np.searchsorted(window, both, side="right") / n2
    )
    statistic = max(float(np.clip(-gap.min(), 0.0, 1.0)), float(gap.max()))
    # scipy's asymptotic p-value (method="asymp"): the exact one is O(n1 * n2) per column and,
    # for some sample sizes, gives up with a RuntimeWarning. Near 0.01 they differ by a few %.
    from scipy.stats import kstwo  # here, not at the top: scipy.stats is slow to import

    big, small = max(n1, n2), min(n1, n2)
    # Two single values make 0.5, which scipy rounds to a sample of 0 (a NaN p-value).
    effective = max(round(big * small / (big + small)), 1)
    p_value = float(np.clip(kstwo.sf(statistic, effective), 0.0, 1.0))
    return statistic, p_value


MIN_EXPECTED = 5.0  # expected count per cell below which chi-square's p-value is unreliable


def chi_square(
    reference_counts: npt.ArrayLike, observed_counts: npt.ArrayLike
) -> tuple[float, float]:
    """Pearson's chi-square test that the window's counts and the reference's come from one
    distribution (a 2 x cells contingency table: the reference is a sample too, and taking its
    shares as exact would flag a window too often, the more so the smaller the reference).

    Cells expected to hold fewer than MIN_EXPECTED values in either sample (a rare category,
    the unseen cell) are pooled, rarest first, until the pool reaches it: so a single unseen
    value cannot flag a window on its own (the data quality counts it), while a category that
    keeps coming does. Without two cells left there is nothing to test (p = 1).
    """
    from scipy.stats import chi2_contingency  # here, not at the top: scipy.stats is slow

    table = np.array([reference_counts, observed_counts], dtype=np.float64)
    if table.ndim != 2 or np.any(table.sum(axis=1) == 0):
        msg = "chi_square needs two non-empty samples of counts over the same cells"
        raise ValueError(msg)
    totals = table.sum(axis=0)
    table, totals = table[:, totals > 0], totals[totals > 0]
    # Expected counts of a cell, in the smaller sample: its total's share of that sample.
    smaller = table.sum(axis=1).min() / totals.sum()
    order = np.argsort(totals, kind="stable")
    small = np.cumsum(totals[order]) * smaller < MIN_EXPECTED
    if small.any():
        pooled = order[: int(small.sum()) + 1]  # up to the cell that lifts the pool past it
        kept = np.setdiff1d(order, pooled)
        table = np.column_stack([table[:, kept], table[:, pooled].sum(axis=1)])
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def js_distance(expected_props: npt.ArrayLike, observed_counts: npt.ArrayLike) -> float:
    """Jensen-Shannon distance (base 2: 0 for the same shares, 1 for disjoint ones)."""
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(expected_props, observed_counts, base=2))
