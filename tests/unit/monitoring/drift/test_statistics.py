"""PSI and KS: as scipy computes KS, as the textbook loop computes PSI."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp

from mlmon.monitoring.drift.reference import ColumnReference
from mlmon.monitoring.drift.statistics import ks, psi


@pytest.mark.parametrize(
    ("n1", "n2", "ties"),
    [(5, 7, False), (50, 50, False), (442, 1000, False), (1000, 10_000, False), (3000, 200, True)],
)
def test_ks_matches_scipy(n1: int, n2: int, ties: bool) -> None:
    """Statistic and p-value agree with scipy.stats.ks_2samp to 1e-12."""
    rng = np.random.default_rng(n1 * n2)
    if ties:
        a, b = rng.integers(0, 6, n1).astype(float), rng.integers(1, 7, n2).astype(float)
    else:
        a, b = rng.normal(size=n1), rng.normal(0.1, 1.2, size=n2)
    statistic, p_value = ks(np.sort(a), b)
    assert statistic == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)
    expected = ks_2samp(a, b, method="asymp")
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-12, abs=1e-300)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-3, 3) | st.floats(-1e6, 1e6), min_size=2, max_size=60),
    st.lists(st.integers(-3, 3) | st.floats(-1e6, 1e6), min_size=2, max_size=60),
)
def test_ks_matches_scipy_on_any_samples(a: list[float], b: list[float]) -> None:
    """Any two samples, ties and all: the same statistic and p-value as scipy's asymptotic test."""
    statistic, p_value = ks(np.sort(np.asarray(a, dtype=float)), b)
    expected = ks_2samp(a, b, method="asymp")
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-12, abs=1e-300)


def test_ks_of_a_sample_with_itself_is_zero() -> None:
    """The same values on both sides: statistic 0 and p-value 1."""
    values = np.sort(np.random.default_rng(1).normal(size=300))
    assert ks(values, values[::-1]) == (0.0, 1.0)


def test_ks_rejects_an_empty_sample() -> None:
    """An empty window has no distribution to compare."""
    with pytest.raises(ValueError, match="non-empty"):
        ks(np.arange(3.0), np.array([]))


def psi_by_loop(expected: list[float], actual: list[float], eps: float = 1e-4) -> float:
    """The textbook formula, one bin at a time."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, eps), max(a, eps)
        total += (a - e) * math.log(a / e)
    return total


def test_psi_two_bins_by_hand() -> None:
    """50/50 against 80/20: 0.3 ln 1.6 - 0.3 ln 0.4 = 0.3 ln 4."""
    assert psi([0.5, 0.5], [0.8, 0.2]) == pytest.approx(0.3 * math.log(4), rel=1e-12)


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ([0.1] * 10, [0.05, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.15, 0.15]),
        ([0.25, 0.25, 0.25, 0.25], [0.0, 0.2, 0.3, 0.5]),
        ([0.6, 0.4], [0.4, 0.6]),
    ],
)
def test_psi_matches_the_textbook_loop(expected: list[float], actual: list[float]) -> None:
    """The vectorised PSI equals a bin-by-bin loop, empty bins clipped at eps included."""
    assert psi(expected, actual) == pytest.approx(psi_by_loop(expected, actual), rel=1e-12)


def test_psi_is_zero_for_identical_and_symmetric_in_its_arguments() -> None:
    """No change gives 0; swapping reference and window gives the same value."""
    props = [0.1, 0.2, 0.3, 0.4]
    other = [0.25, 0.25, 0.3, 0.2]
    assert psi(props, props) == 0.0
    assert psi(props, other) == pytest.approx(psi(other, props), rel=1e-12)
    assert psi(props, other) > 0


def test_psi_stays_finite_when_a_bin_empties() -> None:
    """A window with nothing in a reference bin gives a large but finite PSI."""
    value = psi([0.5, 0.5], [1.0, 0.0])
    assert math.isfinite(value)
    assert value == pytest.approx(psi_by_loop([0.5, 0.5], [1.0, 0.0]), rel=1e-12)
    assert value > psi([0.5, 0.5], [0.9, 0.1])


def test_psi_grows_with_the_shift_alike_either_way() -> None:
    """On a symmetric reference, PSI grows with |shift| and a shift left scores like one right."""
    rng = np.random.default_rng(3)
    column = ColumnReference.from_values("x", rng.normal(size=50_000), bins=10)
    noise = rng.normal(size=20_000)
    values = []
    for shift in (0.0, 0.25, 0.5, 1.0, 2.0):
        right = psi(column.proportions, column.bin_proportions(noise + shift))
        left = psi(column.proportions, column.bin_proportions(noise - shift))
        assert right == pytest.approx(left, rel=0.15, abs=0.01)
        values.append(right)
    assert values[0] < 0.01
    assert values == sorted(values)
    assert values[-1] > 1


def test_ks_of_two_single_values_has_a_p_value() -> None:
    """One value each side: scipy's effective size rounds to 0; ours stays 1, so p is defined."""
    assert ks(np.array([1.0]), np.array([2.0])) == (1.0, 0.0)
    assert ks(np.array([1.0]), np.array([1.0])) == (0.0, 1.0)
