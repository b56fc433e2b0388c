"""Reservoir: a uniform sample of bounded size, exact until it is full."""

from __future__ import annotations

import numpy as np
import pytest

from mlmon.summary.reservoir import Reservoir


def offer_in_blocks(reservoir: Reservoir, values: np.ndarray, rng: np.random.Generator) -> None:
    """Offer `values` in blocks of random sizes (1 to a few hundred), as polls would."""
    start = 0
    while start < len(values):
        end = start + int(rng.integers(1, 300))
        reservoir.add(values[start:end])
        start = end


def test_holds_every_value_in_order_until_full() -> None:
    """Up to its capacity the sample is the values themselves: figures from it are exact."""
    reservoir = Reservoir(5_000, np.random.default_rng(0))
    values = np.random.default_rng(1).random(5_000)
    offer_in_blocks(reservoir, values, np.random.default_rng(2))
    assert reservoir.held == reservoir.seen == 5_000  # nothing left out
    assert reservoir.values().tolist() == values.tolist()


def test_size_stays_at_capacity() -> None:
    reservoir = Reservoir(1_000, np.random.default_rng(0))
    for _ in range(50):
        reservoir.add(np.arange(10_000, dtype=np.float64))
    assert reservoir.seen == 500_000
    assert len(reservoir.values()) == reservoir.held == 1_000
    assert reservoir.held < reservoir.seen  # values were left out
    assert reservoir.nbytes <= 1_000 * 8  # room for `capacity` values at most


def test_a_quiet_stream_takes_little_memory() -> None:
    """A sample of 250,000 that has seen three values holds room for a few, not thousands:
    a model with few rows costs little; the buffer grows as values come."""
    reservoir = Reservoir(250_000, np.random.default_rng(0))
    reservoir.add(np.ones(3))
    assert reservoir.nbytes <= 16 * 8
    reservoir.add(np.ones(5_000))
    assert 5_003 * 8 <= reservoir.nbytes <= 2 * 5_003 * 8


def test_values_handed_out_are_not_changed_by_later_adds() -> None:
    reservoir = Reservoir(10, np.random.default_rng(0))
    reservoir.add(np.zeros(10))
    before = reservoir.values()
    reservoir.add(np.ones(1_000))
    assert before.tolist() == [0.0] * 10


def test_every_value_is_equally_likely_to_be_kept() -> None:
    """Over many streams of 40 values, each value ends in a sample of 8 about 1 time in 5,
    whatever its position, and however the stream is split into blocks. Keeping the first or
    the latest values, or letting an earlier value win a slot two values of one block drew,
    would bias the late or the early positions."""
    trials, length, capacity = 6_000, 40, 8
    kept = np.zeros(length)
    rng = np.random.default_rng(3)
    for _ in range(trials):
        reservoir = Reservoir(capacity, rng)
        offer_in_blocks(reservoir, np.arange(length, dtype=np.float64), rng)
        kept[reservoir.values().astype(int)] += 1
    frequency = kept / trials
    # Each frequency has a standard error of sqrt(0.2 * 0.8 / 6000) ~ 0.0052: allow 4.5 of them.
    assert np.abs(frequency - capacity / length).max() < 0.024
    # The first half and the second half are kept alike (a smaller, sharper bound).
    assert frequency[:20].mean() == pytest.approx(frequency[20:].mean(), abs=0.01)


def test_a_long_stream_gives_a_sample_with_its_quantiles() -> None:
    """A million values in blocks: the sample's quantiles are the stream's, to sampling error."""
    values = np.random.default_rng(4).exponential(10.0, 1_000_000)
    reservoir = Reservoir(20_000, np.random.default_rng(5))
    for block in np.array_split(values, 300):
        reservoir.add(block)
    sample = reservoir.values()
    for q in (0.25, 0.5, 0.9):
        # Rank error of a 20,000 sample: sqrt(q(1 - q) / 20000) <= 0.0035; 4 of them in rank.
        rank = float(np.mean(values <= np.quantile(sample, q)))
        assert rank == pytest.approx(q, abs=0.014)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Reservoir(0, np.random.default_rng(0))
