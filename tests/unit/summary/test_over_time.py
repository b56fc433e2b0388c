"""OverTime: the over-time series kept in slots that merge as the run grows, checked against
the same series computed from every row at once."""

from __future__ import annotations

import itertools
import logging
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlmon.arrays import rows_by_model
from mlmon.summary.over_time import (
    IDLE_GAP,
    MAX_TIME,
    ROWS,
    SECONDS,
    OverTime,
    SlotSums,
)

NAMES = ("a", "b", "c")


def add(over_time: OverTime, errors: np.ndarray, codes: np.ndarray, times: np.ndarray) -> None:
    """Feed a block as LogSummary does: its rows split by model once."""
    over_time.add(errors, list(rows_by_model(codes.astype(np.int32))), times)


def from_every_row(
    errors: np.ndarray, codes: np.ndarray, times: np.ndarray, buckets: int
) -> dict[str, Any]:
    """The series as the dashboard computed it before from all rows held in memory (only the
    row axis' widths now follow the ROWS ladder rather than rows / buckets rounded up)."""
    if not len(errors):
        return {"axis": "time", "width": 0, "start": [], "models": []}
    by_time = bool(np.isfinite(times).all())
    if by_time:
        sane = np.abs(times) <= MAX_TIME  # a corrupt joined_at is left out of the time axis
        times, errors, codes = times[sane], errors[sane], codes[sane]
        if not len(times):
            return {"axis": "time", "width": 0, "start": [], "models": []}
        idle = np.flatnonzero(np.diff(times) > IDLE_GAP)
        if len(idle):
            start = int(idle[-1]) + 1
            times, errors, codes = times[start:], errors[start:], codes[start:]
        low = float(times.min())
        for width in SECONDS.widths():  # the smallest that shows the run in `buckets` at most
            origin = math.floor(low / width) * width
            index = ((times - origin) // width).astype(np.int64)
            if index.max() < buckets:
                break
    else:
        width = ROWS.width(len(errors), buckets)
        origin = 0
        index = np.arange(len(errors)) // width
    slots = int(index.max()) + 1
    models = []
    for code, name in enumerate(NAMES):
        mine = codes == code
        if not mine.any():
            continue
        count = np.bincount(index[mine], minlength=slots)
        total = np.bincount(index[mine], weights=errors[mine], minlength=slots)
        squares = np.bincount(index[mine], weights=errors[mine] ** 2, minlength=slots)
        models.append((name, count.tolist(), total, squares))
    starts = (origin + np.arange(slots) * width).tolist()
    return {"axis": "time" if by_time else "row", "width": width, "start": starts, "models": models}


def assert_same_series(kept: dict[str, Any], expected: dict[str, Any]) -> None:
    assert kept["axis"] == expected["axis"]
    assert kept["width"] == expected["width"]
    assert kept["start"] == pytest.approx(expected["start"])
    assert [m["model"] for m in kept["models"]] == [m[0] for m in expected["models"]]
    for model, (_, count, total, squares) in zip(kept["models"], expected["models"], strict=True):
        assert model["rows"] == count  # counts exact, bucket by bucket
        with np.errstate(invalid="ignore", divide="ignore"):
            mae, rmse = total / np.array(count), np.sqrt(squares / np.array(count))
        for got, want in ((model["mae"], mae), (model["rmse"], rmse)):
            assert [v is None for v in got] == [c == 0 for c in count]
            assert [v for v in got if v is not None] == pytest.approx(want[np.array(count) > 0])


steps = st.one_of(
    st.floats(0.0, 3.0),  # the usual pace
    st.floats(-2.0, 0.0),  # a little out of order (models join at their own pace)
    st.floats(100.0, 299.0),  # slow, but no pause: the run spans long and its slots merge
    st.floats(301.0, 5000.0),  # a pause: a new run starts
)


@settings(max_examples=150, deadline=None)
@given(
    gaps=st.lists(steps, min_size=1, max_size=250),
    codes=st.lists(st.integers(0, 2), min_size=250, max_size=250),
    cuts=st.lists(st.integers(0, 250), max_size=8),
    untimed=st.one_of(st.none(), st.integers(0, 249)),
    corrupt=st.lists(
        st.tuples(st.integers(0, 249), st.sampled_from([1e19, -1e19, 2e11])), max_size=3
    ),
    buckets=st.sampled_from([60, 10, 3]),
)
def test_series_kept_block_by_block_equal_those_from_every_row(
    gaps: list[float],
    codes: list[int],
    cuts: list[int],
    untimed: int | None,
    corrupt: list[tuple[int, float]],
    buckets: int,
) -> None:
    """However the rows come in blocks, and however the run stretches, pauses and restarts,
    every bucket's count is exact and its MAE and RMSE are those of its rows; a corrupt
    joined_at (beyond MAX_TIME) only leaves its row out of the time axis."""
    n = len(gaps)
    times = 1_700_000_000.0 + np.cumsum(gaps)
    for row, bogus in corrupt:
        if row < n:
            times[row] = bogus
    if untimed is not None and untimed < n:
        times[untimed] = math.nan  # one row without joined_at: the chart goes by row
    errors = np.abs(np.sin(np.arange(n) * 1.7)) * 10
    model = np.array(codes[:n], dtype=np.int32)
    over_time = OverTime()
    bounds = [0, *sorted(c for c in cuts if c < n), n]
    for start, end in itertools.pairwise(bounds):
        add(over_time, errors[start:end], model[start:end], times[start:end])
    series = over_time.series(NAMES, buckets)
    assert_same_series(series, from_every_row(errors, model, times, buckets))
    assert len(series["start"]) <= buckets


@pytest.mark.parametrize("ladder", [SECONDS, ROWS], ids=["seconds", "rows"])
def test_a_ladders_slot_divides_every_later_width_and_is_half_a_width_at_least(
    ladder: Any,
) -> None:
    """What makes merging exact (every bucket is whole slots) and memory bounded (a slot is at
    least half a bucket: at most ~2 * buckets + 2 slots)."""
    widths = [w for w, _ in zip(ladder.widths(), range(40), strict=False)]
    for i, width in enumerate(widths):
        slot = ladder.slot(width)
        assert all(later % slot == 0 for later in widths[i:]), width
        assert 2 * slot >= width


def test_merging_slots_keeps_the_sums() -> None:
    sums = SlotSums()
    rng = np.random.default_rng(0)
    slots = rng.integers(-50, 200, 5_000)
    errors = rng.exponential(3.0, 5_000)
    sums.add(slots, errors)
    rows, total, squares = sums.rows, sums.total.sum(), sums.squares.sum()
    sums.merge(7)
    assert sums.rows == rows == 5_000
    assert sums.total.sum() == pytest.approx(total)
    assert sums.squares.sum() == pytest.approx(squares)
    assert len(sums.count) == 200 // 7 - (-50 // 7) + 1
    merged_slot = slots[0] // 7 - sums.first
    assert sums.count[merged_slot] == np.count_nonzero(slots // 7 == slots[0] // 7)


def test_a_long_run_keeps_a_bounded_number_of_slots() -> None:
    """Thirty days of rows without a pause, one block an hour: slots merge as the run grows,
    so there are never more than about 2 * TIME_BUCKETS + 2 per model and axis (24 bytes
    each), where the rows themselves would take 31 MB."""
    over_time = OverTime()
    start = 1_700_000_000.0
    most = 0
    for hour in range(30 * 24):
        times = start + hour * 3600 + np.arange(0.0, 3600.0, 2.0)
        codes = (np.arange(len(times)) % 2).astype(np.int32)
        add(over_time, np.ones(len(times)), codes, times)
        most = max(most, over_time.nbytes)
    assert most <= 2 * 2 * (2 * 60 + 2) * 24  # two models, two axes
    series = over_time.series(NAMES)
    assert series["width"] == 86400  # 30 days in at most 60 buckets: 12 h, rounded up to 1 day
    assert sum(series["models"][0]["rows"]) == 30 * 24 * 1800 // 2


def test_more_buckets_than_the_slots_were_sized_for_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 60"):
        OverTime(60).series(NAMES, 61)


def test_a_corrupt_joined_at_is_left_out_of_the_time_axis_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A joined_at of 1e19 (past int64 in seconds) once made the slot arithmetic overflow and
    every later series() raise; now its row is left out of the time axis, counted, and warned
    about once, and the rows around it are charted as usual."""
    over_time = OverTime()
    times = 1_700_000_000.0 + np.arange(100.0)
    with caplog.at_level(logging.WARNING, logger="mlmon.summary.over_time"):
        add(over_time, np.ones(100), np.zeros(100, np.int32), times)
        add(over_time, np.ones(2), np.zeros(2, np.int32), np.array([1e19, -1e19]))
        add(over_time, np.full(10, 3.0), np.zeros(10, np.int32), times[-1] + 1 + np.arange(10.0))
        add(over_time, np.ones(1), np.zeros(1, np.int32), np.array([9e18]))
    series = over_time.series(NAMES)
    assert series["axis"] == "time"
    assert sum(series["models"][0]["rows"]) == 110
    assert series["start"][0] == 1_700_000_000
    assert over_time.implausible == 3
    assert over_time.rows == 113  # all still counted, and on the row axis
    assert caplog.text.count("is no time") == 1


def test_series_of_times_near_the_limit_do_not_overflow() -> None:
    """Slot numbers are regrouped in slot units: times near MAX_TIME in 1 s slots give the
    buckets numpy computes from the rows."""
    over_time = OverTime()
    times = MAX_TIME - 50 + np.arange(40.0)
    add(over_time, np.arange(40.0), np.zeros(40, np.int32), times)
    errors = np.arange(40.0)
    assert_same_series(
        over_time.series(NAMES), from_every_row(errors, np.zeros(40, np.int32), times, 60)
    )


def test_a_run_not_aligned_to_its_width_still_fits_the_buckets() -> None:
    """59.9 s of rows fit 60 buckets of 1 s by their span, but from 0.5 s past a whole second
    they touch 61 of them: the width is the next step (2 s) instead, not a 61st bucket holding
    a few rows (which spiked on the chart)."""
    over_time = OverTime()
    times = 1_700_000_000.5 + np.linspace(0.0, 59.9, 600)
    add(over_time, np.ones(600), np.zeros(600), times)
    series = over_time.series(NAMES)
    assert series["width"] == 2
    assert len(series["start"]) == 31
    assert sum(series["models"][0]["rows"]) == 600
