"""`last_Ts`: records with at > now - T, out-of-order records, folding and chunking."""

from __future__ import annotations

import numpy as np

from mlmon.monitoring.quality.figures import (
    RegressionFigures,
    classification_figures,
    regression_figures,
)
from mlmon.monitoring.quality.time_window import WINDOW_SLICES, LastSeconds
from mlmon.monitoring.quality.tracker import QualityTracker
from tests.unit.monitoring.quality.records import (
    assert_regression,
    expected_regression,
)


def test_time_window_keeps_records_after_now_minus_t() -> None:
    """A record exactly T seconds old has left; a window with no records has None figures."""
    tracker = QualityTracker(count_windows=(), time_windows=(10.0,))
    tracker.add_many("m", [1.0, 1.0, 1.0], [2.0, 3.0, 4.0], [0.0, 5.0, 5.5])
    window = tracker.snapshot(15.0)["m"]["last_10s"]
    assert (window.count, window.mae) == (1, 3.0)
    later = tracker.snapshot(100.0)["m"]
    assert later["last_10s"] == RegressionFigures(0, *[None] * 3, 0, *[None] * 6)
    assert later["all"].count == 3


def test_time_window_counts_out_of_order_records_by_at() -> None:
    """A record older than those before it is counted by its own time (at > now - T)."""
    tracker = QualityTracker(count_windows=(), time_windows=(15.0,))
    for y_pred, at in ((1.0, 10.0), (2.0, 0.0), (3.0, 6.0), (4.0, 20.0)):
        tracker.add("m", 0.0, y_pred, at)
    window = tracker.snapshot(21.0)["m"]["last_15s"]
    assert (window.count, window.max_abs_error) == (2, 4.0)


def test_a_busy_time_window_folds_old_records_and_keeps_its_figures() -> None:
    """Past `keep` records a time window folds the oldest into per-slice running figures:
    memory stays bounded, the figures stay those of the records inside the window (exact
    sums, quantiles within the sketch's bound), and folded slices leave as the window moves."""
    rng = np.random.default_rng(3)
    at = np.arange(20_000) * 0.01  # 100 records a second for 200 s
    y_true = rng.normal(100, 20, at.size)
    y_pred = y_true + rng.normal(0, 5, at.size)
    window = LastSeconds(60.0, keep=1_000)
    for start in range(0, at.size, 250):
        part = slice(start, start + 250)
        window.extend(y_true[part], y_pred[part], at[part])
        assert window.held <= 1_000 + 250
    assert window._slices  # the oldest records were folded
    assert len(window._slices) <= WINDOW_SLICES + 1
    for now in (200.0 - 0.005, 230.0 - 0.005):  # cutoffs on slice boundaries: exact membership
        inside = at > now - 60.0
        got = window.figures(now)
        assert isinstance(got, RegressionFigures)
        assert_regression(got, expected_regression(y_true[inside], y_pred[inside]), sketched=True)
    assert window.figures(1_000.0).count == 0  # everything left, folded slices too
    assert not window._slices


def test_a_busy_classification_time_window_folds_confusion_counts() -> None:
    rng = np.random.default_rng(4)
    at = np.arange(6_000) * 0.02
    y_true = rng.integers(0, 3, at.size).astype(float)
    y_pred = np.where(rng.random(at.size) < 0.8, y_true, rng.integers(0, 3, at.size))
    window = LastSeconds(30.0, mode="classification", keep=500)
    window.extend(y_true, y_pred.astype(float), at)
    now = 120.0 - 0.005
    inside = at > now - 30.0
    assert window.figures(now) == classification_figures(y_true[inside], y_pred[inside])


def test_a_time_window_gathers_small_batches_into_few_chunks() -> None:
    """At 1,000 records/s the metric adds batches of ~6: a minute of them must not be 10,000
    chunks for every snapshot to join, and singles and batches keep their order."""
    window = LastSeconds(60.0)
    rng = np.random.default_rng(11)
    y_true, y_pred = rng.random(60_006) * 100, rng.random(60_006) * 100
    at = np.arange(60_006) / 1000.0
    for start in range(0, 60_000, 6):
        window.extend(y_true[start : start + 6], y_pred[start : start + 6], at[start : start + 6])
    for i in range(60_000, 60_006):  # single records after the batches
        window.add(float(y_true[i]), float(y_pred[i]), float(at[i]))
    now = float(at[-1])
    kept = at > now - 60.0
    assert len(window._chunks) <= 60_000 // 256 + 1
    assert np.array_equal(window.values(now)[0], y_true[kept])  # in order of arrival
    assert window.figures(now) == regression_figures(y_true[kept], y_pred[kept])
