"""The worst-segments rule: a segment with doubled errors tops the table; with none, the table
stays empty (Bonferroni over the segments tested); intervals cover as stated."""

from __future__ import annotations

import numpy as np
import pytest

from mlmon.monitoring.segments import (
    FAMILY_ALPHA,
    SegmentTable,
    segment_qualities,
    worst_segments,
)

REGIONS = ("eu", "us", "apac", "latam", "africa")
DEVICES = ("ios", "android", "web")


def _stream(
    rng: np.random.Generator, rows: int, worse: dict[str, float], classification: bool
) -> SegmentTable:
    """Rows tagged region and device, uniformly; a region in `worse` has its errors (or error
    rate) multiplied by its factor."""
    table = SegmentTable()
    distinct = [{"region": r, "device": d} for r in REGIONS for d in DEVICES]
    index = rng.integers(0, len(distinct), rows).astype(np.int32)
    factor = np.array([worse.get(tags["region"], 1.0) for tags in distinct])[index]
    if classification:
        errors = (rng.random(rows) < 0.1 * factor).astype(np.float64)
    else:
        errors = np.abs(rng.normal(0.0, 10.0, rows)) * factor
    for start in range(0, rows, 4096):
        part = slice(start, start + 4096)
        table.add(errors[part], index[part], distinct)
    return table


@pytest.mark.parametrize("classification", [False, True])
def test_a_segment_with_doubled_errors_tops_the_table(classification: bool) -> None:
    table = _stream(np.random.default_rng(7), 20_000, {"eu": 2.0}, classification)
    worst = worst_segments(segment_qualities(table, classification))
    assert worst, "the doubled segment was not listed"
    top = worst[0]
    assert (top.key, top.value) == ("region", "eu")
    assert all(quality.key == "region" and quality.value == "eu" for quality in worst)
    if classification:
        assert top.value_of == "accuracy"
        assert top.low <= top.figure <= top.high
        assert top.high < 1.0 - table.overall.mean  # its interval is below the model's
    else:
        assert top.value_of == "mae"
        assert top.low > table.overall.mean  # its MAE's interval is above the model's
    assert 0.6 < top.worse_by < 1.0  # twice the rest is less than twice the whole


@pytest.mark.parametrize("classification", [False, True])
def test_with_no_worse_segment_the_table_is_empty(classification: bool) -> None:
    """Many seeds, 8 segments each: Bonferroni at FAMILY_ALPHA keeps false listings rare."""
    seeds = 200
    listed = sum(
        bool(worst_segments(segment_qualities(table, classification)))
        for table in (
            _stream(np.random.default_rng(seed), 5_000, {}, classification) for seed in range(seeds)
        )
    )
    # At most FAMILY_ALPHA of runs on average: 2 of 200; 6 would be 5 standard deviations out.
    assert listed <= 6
    assert FAMILY_ALPHA * seeds >= 1


def test_a_better_segment_is_not_listed() -> None:
    """Halved errors in eu: eu is not listed (the other regions are: they are worse than the
    rest of the model, which eu's rows pull down)."""
    table = _stream(np.random.default_rng(3), 20_000, {"eu": 0.5}, False)
    listed = {(q.key, q.value) for q in worst_segments(segment_qualities(table, False))}
    assert ("region", "eu") not in listed
    assert listed <= {("region", region) for region in REGIONS}


def test_small_segments_are_not_tested() -> None:
    table = SegmentTable()
    table.add(np.array([100.0] * 5 + [1.0] * 100), np.array([0] * 5 + [1] * 100, np.int32),
              [{"region": "eu"}, {"region": "us"}])  # fmt: skip
    qualities = {q.value: q for q in segment_qualities(table, False)}
    assert qualities["eu"].p_value != qualities["eu"].p_value  # NaN: 5 rows are too few
    assert worst_segments(qualities.values()) == []


@pytest.mark.parametrize("classification", [False, True])
def test_intervals_cover_the_true_figure(classification: bool) -> None:
    """95 % intervals contain the true MAE (or accuracy) in about 95 % of streams."""
    rng = np.random.default_rng(11)
    truth = 10.0 * np.sqrt(2 / np.pi) if not classification else 0.9
    covered = 0
    runs = 300
    for _ in range(runs):
        table = _stream(rng, 600, {}, classification)
        eu = next(q for q in segment_qualities(table, classification) if q.value == "eu")
        covered += eu.low <= truth <= eu.high
    assert 0.91 <= covered / runs <= 0.99


def test_many_segments_do_not_list_one_by_chance() -> None:
    """Forty user groups, none worse: uncorrected one-sided tests at 0.01 would list one in
    about a third of the streams; the correction keeps it near FAMILY_ALPHA."""
    runs, listed, uncorrected = 50, 0, 0
    for seed in range(runs):
        rng = np.random.default_rng(1000 + seed)
        distinct = [{"group": f"g{i}"} for i in range(40)]
        table = SegmentTable()
        table.add(
            np.abs(rng.normal(0.0, 1.0, 8000)),
            rng.integers(0, 40, 8000).astype(np.int32),
            distinct,
        )
        qualities = segment_qualities(table, False)
        listed += bool(worst_segments(qualities))
        uncorrected += any(q.p_value < FAMILY_ALPHA for q in qualities)
    print(f"listed in {listed} of {runs} streams; uncorrected, {uncorrected}")
    assert listed <= 3
    assert uncorrected >= 5  # the correction is what keeps the table empty
