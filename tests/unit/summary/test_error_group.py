"""ErrorGroup and pooled: exact moments, and samples pooled at one rate."""

from __future__ import annotations

import numpy as np
import pytest

from mlmon.summary.error_group import ErrorGroup, pooled


def sampled(name: str, errors: np.ndarray, size: int) -> ErrorGroup:
    """The group a summary would give: exact figures, a uniform sample of `size` errors."""
    exact = ErrorGroup.of(name, errors)
    pick = np.random.default_rng(0).choice(errors, size, replace=False)
    return ErrorGroup(name, exact.count, exact.mean, exact.std, exact.low, exact.high, pick)


def test_pooling_whole_groups_is_the_concatenation() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.exponential(2.0, 3_000), 50 + rng.normal(0, 0.5, 1_000)
    pool = pooled("all", [ErrorGroup.of("a", a), ErrorGroup.of("b", b)])
    both = np.concatenate([a, b])
    assert not pool.sampled
    assert sorted(pool.sample.tolist()) == sorted(both.tolist())
    assert pool.count == 4_000
    assert pool.mean == pytest.approx(both.mean(), rel=1e-12)
    assert pool.std == pytest.approx(both.std(), rel=1e-12)
    assert (pool.low, pool.high) == (both.min(), both.max())
    assert pool.median() == np.median(both)
    assert pool.models == 2


def test_pooled_samples_take_every_row_at_the_same_rate() -> None:
    """A busy model sampled 1 in 10 and a quiet one kept whole: the quiet one is thinned to 1
    in 10 too, so the pooled sample is uniform over all rows (not half quiet rows)."""
    rng = np.random.default_rng(2)
    busy, quiet = rng.exponential(1.0, 100_000), 100 + rng.exponential(1.0, 5_000)
    pool = pooled("all", [sampled("busy", busy, 10_000), ErrorGroup.of("quiet", quiet)])
    assert pool.count == 105_000
    assert len(pool.sample) == 10_500
    assert pool.scale == pytest.approx(10.0)
    assert np.count_nonzero(pool.sample >= 100) == 500  # the quiet model's share: 5,000 / 10
    assert pool.mean == pytest.approx(np.concatenate([busy, quiet]).mean(), rel=1e-12)


def test_bar_heights_are_on_the_axis_of_rows() -> None:
    errors = np.random.default_rng(3).exponential(3.0, 200_000)
    edges = np.linspace(0, errors.max(), 31)
    exact = ErrorGroup.of("m", errors).bar_heights(edges)
    estimate = sampled("m", errors, 20_000).bar_heights(edges)
    assert estimate.sum() == pytest.approx(200_000)
    big = exact > 5_000  # bins holding enough sampled rows for a tight estimate
    assert estimate[big] == pytest.approx(exact[big], rel=0.1)
