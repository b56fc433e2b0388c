"""Change detection on error streams: delays, false alarms, segments, block independence."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from mlmon.monitoring.detectors import ChangeDetection, ChangePoint, DetectorConfig

CHANGE_AT = 20_000


def _regression_errors(rows: int, change_at: int | None, factor: float, seed: int) -> npt.NDArray:
    errors = np.abs(np.random.default_rng(seed).normal(0.0, 40.0, rows))
    if change_at is not None:
        errors[change_at:] *= factor
    return errors


def _feed(
    detection: ChangeDetection,
    errors: npt.NDArray,
    classified: bool = False,
    tags: list[dict[str, str] | None] | None = None,
    block: int = 4096,
) -> list[ChangePoint]:
    found = []
    for start in range(0, len(errors), block):
        part = errors[start : start + block]
        n = len(part)
        found += detection.add(
            part,
            np.zeros(n, dtype=np.int32),
            ("m",),
            np.full(n, classified),
            np.arange(start, start + n, dtype=np.float64),
            np.arange(start, start + n, dtype=np.float64) - 1,
            None if tags is None else tags[start : start + n],
        )
    return found


def test_regression_detectors_flag_a_rise_of_the_error_soon_after_it() -> None:
    errors = _regression_errors(40_000, CHANGE_AT, 1.5, seed=1)
    found = _feed(ChangeDetection(), errors)
    first = {}
    for point in found:
        first.setdefault(point.detector, point.row)
    assert set(first) == {"adwin", "page_hinkley"}
    for detector, row in first.items():
        assert CHANGE_AT < row <= CHANGE_AT + 1_000, (detector, row)
    before = next(p for p in found if p.detector == "adwin")
    assert before.rows_before == before.row  # nothing flagged before it
    assert 30 < before.mean_before < 34  # |N(0, 40)| has mean 31.9


def test_classification_detectors_flag_a_rise_of_the_error_rate() -> None:
    rng = np.random.default_rng(2)
    wrong = (rng.random(60_000) < np.where(np.arange(60_000) < CHANGE_AT, 0.1, 0.25)).astype(float)
    found = _feed(ChangeDetection(), wrong, classified=True)
    first = {}
    for point in found:
        first.setdefault(point.detector, point.row)
    assert set(first) == {"adwin", "ddm"}
    for detector, row in first.items():
        assert CHANGE_AT < row <= CHANGE_AT + 2_000, (detector, row)


def test_a_stationary_stream_raises_no_alarm() -> None:
    # 300,000 rows of each kind; benchmarks/bench_change_detection.py counts over 1,000,000.
    assert _feed(ChangeDetection(), _regression_errors(300_000, None, 1.0, seed=3)) == []
    wrong = (np.random.default_rng(4).random(300_000) < 0.2).astype(float)
    assert _feed(ChangeDetection(), wrong, classified=True) == []


def test_a_segment_gets_its_own_stream_and_only_its_change_is_flagged_there() -> None:
    rows = 60_000
    rng = np.random.default_rng(5)
    eu = rng.random(rows) < 0.2
    errors = _regression_errors(rows, None, 1.0, seed=6)
    errors[(np.arange(rows) >= CHANGE_AT) & eu] *= 2.0  # only eu gets worse
    tags = [{"region": "eu" if e else "us"} for e in eu]
    found = _feed(ChangeDetection(), errors, tags=tags)
    segments = {p.segment for p in found}
    assert "region=eu" in segments
    assert "region=us" not in segments
    eu_first = min(p.row for p in found if p.segment == "region=eu")
    assert CHANGE_AT < eu_first <= CHANGE_AT + 2_000


def test_segments_past_the_bound_count_only_in_their_model() -> None:
    detection = ChangeDetection(DetectorConfig(max_segments=3))
    errors = _regression_errors(1_000, None, 1.0, seed=7)
    tags: list[dict[str, str] | None] = [{"user": str(i)} for i in range(1_000)]
    _feed(detection, errors, tags=tags)
    assert len(detection.streams()) == 4  # the model and its first three segments
    assert detection.untracked_segment_rows == 997


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 3_000), min_size=1, max_size=8))
def test_the_change_points_do_not_depend_on_how_the_rows_come_in_blocks(cuts: list[int]) -> None:
    """A restarted reader reads other block sizes than the run it replaces: same result."""
    errors = _regression_errors(12_000, 6_000, 1.8, seed=8)
    whole = _feed(ChangeDetection(), errors, block=len(errors))
    detection, found, start = ChangeDetection(), [], 0
    for size in [*cuts, len(errors)]:
        found += _feed_from(detection, errors, start, size)
        start = min(start + size, len(errors))
    assert found == whole
    assert whole  # the change is there to be found


def _feed_from(
    detection: ChangeDetection, errors: npt.NDArray, start: int, size: int
) -> list[ChangePoint]:
    part = errors[start : start + size]
    n = len(part)
    return detection.add(
        part,
        np.zeros(n, dtype=np.int32),
        ("m",),
        np.zeros(n, dtype=bool),
        np.arange(start, start + n, dtype=np.float64),
        np.arange(start, start + n, dtype=np.float64) - 1,
    )


def test_reset_starts_over() -> None:
    detection = ChangeDetection()
    errors = _regression_errors(30_000, CHANGE_AT, 1.6, seed=9)
    first = _feed(detection, errors)
    detection.reset()
    assert detection.rows == 0
    assert _feed(detection, errors) == first
