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
    expected_props: npt.ArrayLike, observed_counts: npt.ArrayLike
) -> tuple[float, float]:
    """Pearson's chi-square goodness-of-fit of the observed counts to the expected shares.

    Cells expected to hold fewer than MIN_EXPECTED values (a rare category, or the unseen
    cell, expected near 0) are pooled, smallest first, until the pool reaches it: so a single
    unseen value cannot flag a window on its own (the data quality counts it), while a
    category that keeps coming does. Without two cells left there is nothing to test (p = 1).
    """
    from scipy.stats import chisquare  # here, not at the top: scipy.stats is slow to import

    observed = np.asarray(observed_counts, dtype=np.float64)
    total = observed.sum()
    if total == 0:
        msg = "chi_square needs at least one observed value"
        raise ValueError(msg)
    expected = np.asarray(expected_props, dtype=np.float64) * total
    order = np.argsort(expected, kind="stable")
    small = np.cumsum(expected[order]) < MIN_EXPECTED
    # The smallest cells up to and including the one that lifts the pool to MIN_EXPECTED.
    pooled = order[: int(small.sum()) + 1] if small.any() else order[:0]
    kept = np.setdiff1d(order, pooled)
    if pooled.size:
        observed = np.append(observed[kept], observed[pooled].sum())
        expected = np.append(expected[kept], expected[pooled].sum())
    if observed.size < 2:
        return 0.0, 1.0
    statistic, p_value = chisquare(observed, expected)
    return float(statistic), float(p_value)


def js_distance(expected_props: npt.ArrayLike, observed_counts: npt.ArrayLike) -> float:
    """Jensen-Shannon distance (base 2: 0 for the same shares, 1 for disjoint ones)."""
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(expected_props, observed_counts, base=2))
