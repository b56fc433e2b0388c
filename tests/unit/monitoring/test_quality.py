"""Windowed quality figures: equal to numpy and scikit-learn on the records each window holds."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    max_error,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
)

from mlmon.errors import ConfigError, RecordError
from mlmon.monitoring.quality import (
    MAPE_EPS,
    QUANTILES,
    SKETCH_HIGH,
    SKETCH_LOW,
    SKETCH_RELATIVE_ERROR,
    WINDOW_SLICES,
    ClassificationFigures,
    LogHistogram,
    QualityTracker,
    RegressionFigures,
    _LastSeconds,
    classification_figures,
    regression_figures,
)

FloatArray = npt.NDArray[np.float64]
REL = 1e-9
# Rounding at a bin's edge may add a few ulps to the documented bound.
SKETCH_BOUND = SKETCH_RELATIVE_ERROR * (1 + 1e-9)


def stream(
    rng: np.random.Generator, n: int, *, labels: int = 0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """n records: y_true, y_pred and rising join times (some equal), about 20 per second."""
    at: FloatArray = np.round(np.cumsum(rng.exponential(0.05, n)), 2).astype(np.float64)
    if labels:
        y_true = rng.integers(0, labels, n).astype(np.float64)
        wrong = rng.random(n) < 0.3
        # Some wrong predictions name a label that is never a true value.
        y_pred = np.where(wrong, rng.integers(0, labels + 1, n), y_true).astype(np.float64)
        return y_true, y_pred, at
    y_true = rng.normal(50.0, 20.0, n)
    y_true[rng.random(n) < 0.05] = 0.0  # left out of MAPE
    return y_true, y_true + rng.normal(1.0, 5.0, n), at


def feed(
    tracker: QualityTracker,
    model: str,
    records: tuple[FloatArray, FloatArray, FloatArray],
    rng: np.random.Generator,
) -> None:
    """Records in batches of random sizes, one-record batches through add()."""
    y_true, y_pred, at = records
    start = 0
    while start < y_true.size:
        stop = min(start + int(rng.choice([1, 1, 1, 7, 100, 1000])), y_true.size)
        if stop - start == 1:
            tracker.add(model, float(y_true[start]), float(y_pred[start]), float(at[start]))
        else:
            tracker.add_many(model, y_true[start:stop], y_pred[start:stop], at[start:stop])
        start = stop


def expected_regression(y_true: FloatArray, y_pred: FloatArray) -> dict[str, Any]:
    """The figures as numpy and scikit-learn compute them."""
    if y_true.size == 0:
        return {"count": 0, "mape_skipped": 0}
    absolute = np.abs(y_pred - y_true)
    kept = np.abs(y_true) >= MAPE_EPS
    p50, p90, p99 = np.quantile(absolute, QUANTILES)
    return {
        "count": y_true.size,
        "mae": mean_absolute_error(y_true, y_pred),
        "rmse": math.sqrt(mean_squared_error(y_true, y_pred)),
        "mape": mean_absolute_percentage_error(y_true[kept], y_pred[kept]) if kept.any() else None,
        "mape_skipped": int((~kept).sum()),
        "r2": r2_score(y_true, y_pred) if y_true.size >= 2 else None,
        "bias": float(np.mean(y_pred - y_true)),
        "max_abs_error": max_error(y_true, y_pred),
        "abs_error_p50": p50,
        "abs_error_p90": p90,
        "abs_error_p99": p99,
    }


def assert_regression(
    figures: RegressionFigures, expected: dict[str, Any], *, sketched: bool = False
) -> None:
    """Every figure within REL (quantiles within the sketch's bound when `sketched`)."""
    actual = figures.to_dict()
    assert set(expected) <= set(actual)
    for name, value in actual.items():
        want = expected.get(name)
        if want is None or isinstance(want, int):
            assert value == want, name
        elif sketched and name.startswith("abs_error_p"):
            assert abs(value - want) <= SKETCH_BOUND * want, name
        else:
            assert value == pytest.approx(want, rel=REL, abs=1e-12), name


def test_regression_windows_match_numpy_and_sklearn() -> None:
    """Each window's figures equal scikit-learn's on the records that window holds."""
    rng = np.random.default_rng(7)
    records = stream(rng, 6000)
    tracker = QualityTracker(count_windows=(1, 50, 500, 10_000), time_windows=(0.5, 60.0))
    feed(tracker, "m", records, rng)
    now = float(records[2][-1]) + 0.2
    figures = tracker.snapshot(now)["m"]
    y_true, y_pred, at = records
    windows = ["last_1", "last_50", "last_500", "last_10000", "last_0.5s", "last_60s", "all"]
    assert list(figures) == windows
    for n in (1, 50, 500, 10_000):
        assert_regression(figures[f"last_{n}"], expected_regression(y_true[-n:], y_pred[-n:]))
    for seconds, name in ((0.5, "last_0.5s"), (60.0, "last_60s")):
        inside = at > now - seconds
        assert 0 < inside.sum() < at.size
        assert_regression(figures[name], expected_regression(y_true[inside], y_pred[inside]))
    assert_regression(figures["all"], expected_regression(y_true, y_pred), sketched=True)
    assert figures["all"].mape_skipped > 0


def test_classification_windows_match_sklearn() -> None:
    """Accuracy, macro precision / recall / F1 and the confusion matrix are scikit-learn's."""
    rng = np.random.default_rng(11)
    records = stream(rng, 5000, labels=4)
    tracker = QualityTracker(count_windows=(300,), time_windows=(30.0,), mode="classification")
    feed(tracker, "m", records, rng)
    now = float(records[2][-1])
    figures = tracker.snapshot(now)["m"]
    y_true, y_pred, at = records
    inside = at > now - 30.0
    windows = {
        "last_300": (y_true[-300:], y_pred[-300:]),
        "last_30s": (y_true[inside], y_pred[inside]),
        "all": (y_true, y_pred),
    }
    for name, (true, pred) in windows.items():
        got = figures[name]
        assert isinstance(got, ClassificationFigures)
        labels = np.unique(np.concatenate([true, pred]))
        assert 4.0 in labels  # a label only ever predicted: its precision is 0, recall 0/0
        macro: dict[str, Any] = {"labels": labels, "average": "macro", "zero_division": 0.0}
        assert got.count == true.size
        assert got.labels == tuple(labels)
        assert got.accuracy == pytest.approx(accuracy_score(true, pred), rel=REL)
        assert got.precision == pytest.approx(precision_score(true, pred, **macro), rel=REL)
        assert got.recall == pytest.approx(recall_score(true, pred, **macro), rel=REL)
        assert got.f1 == pytest.approx(f1_score(true, pred, **macro), rel=REL)
        assert np.array_equal(got.confusion, confusion_matrix(true, pred, labels=labels))


def test_confusion_counts_leave_out_empty_cells() -> None:
    """The confusion matrix as (y_true, y_pred) -> count, integer labels given as ints."""
    tracker = QualityTracker(count_windows=(), time_windows=(), mode="classification")
    tracker.add_many("m", [0, 1, 1, 2], [0, 1, 0, 2], [1, 2, 3, 4])
    tracker.add("m", 2, 2, 5)
    figures = tracker.snapshot(5.0)["m"]["all"]
    assert isinstance(figures, ClassificationFigures)
    assert figures.confusion_counts() == {
        (0.0, 0.0): 1,
        (1.0, 1.0): 1,
        (1.0, 0.0): 1,
        (2.0, 2.0): 2,
    }
    assert figures.accuracy == 0.8


def test_all_window_quantiles_within_bound_on_lognormal_errors() -> None:
    """The `all` p50 / p90 / p99 of 100,000 lognormal errors are within 0.5 % of numpy's."""
    rng = np.random.default_rng(3)
    errors = rng.lognormal(0.0, 2.0, 100_000)
    y_true = rng.normal(0.0, 100.0, errors.size)
    tracker = QualityTracker(count_windows=(1000,), time_windows=(10.0,))
    at = np.arange(errors.size, dtype=np.float64)
    for start in range(0, errors.size, 1000):
        rows = slice(start, start + 1000)
        tracker.add_many("m", y_true[rows], y_true[rows] + errors[rows], at[rows])
    figures = tracker.snapshot(float(at[-1]))["m"]
    exact = np.quantile(errors, QUANTILES)
    sketched = [
        figures["all"].abs_error_p50,
        figures["all"].abs_error_p90,
        figures["all"].abs_error_p99,
    ]
    for got, want in zip(sketched, exact, strict=True):
        assert got is not None
        assert abs(got - want) <= SKETCH_BOUND * want
    # The windowed ones hold their records, so theirs are numpy's.
    absolute = np.abs((y_true[-1000:] + errors[-1000:]) - y_true[-1000:])
    assert figures["last_1000"].abs_error_p99 == np.quantile(absolute, 0.99)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(np.random.default_rng(1).lognormal(0.0, 3.0, 100_000), id="lognormal"),
        pytest.param(
            10 ** np.random.default_rng(2).uniform(-9, 15, 100_000), id="log-uniform-full-range"
        ),
        pytest.param(np.random.default_rng(3).integers(0, 4, 10_000) * 0.25, id="ties-and-zeros"),
    ],
)
def test_log_histogram_quantiles_within_documented_bound(values: FloatArray) -> None:
    """Every quantile, 0 to 1 in steps of 0.005, is within 0.5 % of numpy.quantile."""
    sketch = LogHistogram()
    sketch.extend(values[:50_000])
    for value in values[50_000:60_000]:
        sketch.add(float(value))
    sketch.extend(values[60_000:])
    qs = np.linspace(0.0, 1.0, 201)
    got = np.array(sketch.quantiles(qs))
    want = np.quantile(values, qs)
    assert np.all(np.abs(got - want) <= SKETCH_BOUND * want)
    assert got[0] == values.min()
    assert got[-1] == values.max()


def test_log_histogram_outside_its_range() -> None:
    """Zeros are exact, tiny values within SKETCH_LOW / 2, huge ones read as the largest."""
    sketch = LogHistogram()
    sketch.extend(np.array([0.0, 0.0, 0.0, 1e-12, 3e-10, 5e-10, 1.0, 2e15, 3e15]))
    assert sketch.quantiles([0.0, 0.25]) == [0.0, 0.0]
    (tiny,) = sketch.quantiles([0.5]) or []
    assert abs(tiny - 3e-10) <= SKETCH_LOW / 2
    assert sketch.quantiles([1.0]) == [3e15]
    assert SKETCH_HIGH == 1e15
    assert LogHistogram().quantiles([0.5]) is None


def test_models_do_not_mix() -> None:
    """Two models' records each make their own figures, in every window."""
    tracker = QualityTracker(count_windows=(3,), time_windows=(10.0,))
    tracker.add_many("champion", [10.0] * 5, [11.0] * 5, [1.0, 2.0, 3.0, 4.0, 5.0])
    tracker.add_many("challenger", [10.0] * 2, [110.0] * 2, [6.0, 7.0])
    tracker.add("champion", 10.0, 12.0, 8.0)
    snapshot = tracker.snapshot(8.0)
    assert list(snapshot) == ["challenger", "champion"]
    champion, challenger = snapshot["champion"], snapshot["challenger"]
    assert [champion[w].count for w in ("last_3", "last_10s", "all")] == [3, 6, 6]
    assert [challenger[w].count for w in ("last_3", "last_10s", "all")] == [2, 2, 2]
    assert champion["last_3"].mae == pytest.approx(4 / 3)
    assert champion["all"].max_abs_error == 2.0
    assert challenger["all"].mae == challenger["last_10s"].mae == 100.0


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
records = st.tuples(finite, finite)


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=40),
    batches=st.lists(st.lists(records, min_size=1, max_size=60), min_size=1, max_size=12),
)
def test_count_window_mae_equals_numpy_on_last_n(
    size: int, batches: list[list[tuple[float, float]]]
) -> None:
    """For any sequence and batching, last_N's MAE (and all's) is numpy's within 1e-9."""
    tracker = QualityTracker(count_windows=(size,), time_windows=())
    at = 0.0
    for batch in batches:
        true, pred = (np.array(column) for column in zip(*batch, strict=True))
        if len(batch) == 1:
            tracker.add("m", float(true[0]), float(pred[0]), at)
        else:
            tracker.add_many("m", true, pred, np.full(len(batch), at))
        at += 1.0
    y_true, y_pred = (np.array(c) for c in zip(*(r for b in batches for r in b), strict=True))
    figures = tracker.snapshot(at)["m"]
    last_n = figures[f"last_{size}"]
    assert last_n.count == min(size, y_true.size)
    expected = np.mean(np.abs(y_pred[-size:] - y_true[-size:]))
    assert last_n.mae is not None
    assert math.isclose(last_n.mae, expected, rel_tol=1e-9, abs_tol=0.0)
    everything = figures["all"]
    assert everything.mae is not None
    assert math.isclose(everything.mae, np.mean(np.abs(y_pred - y_true)), rel_tol=1e-9)
    assert everything.max_abs_error == np.max(np.abs(y_pred - y_true))


def test_empty_tracker_snapshot_is_empty() -> None:
    """No records, no models: the snapshot is {} (an empty batch adds no model)."""
    tracker = QualityTracker()
    tracker.add_many("m", [], [], [])
    assert tracker.snapshot(0.0) == {}
    assert QualityTracker(mode="classification").snapshot(0.0) == {}


def test_one_record_has_no_r2() -> None:
    """With one record R² is None; every error figure is that record's error."""
    tracker = QualityTracker()
    tracker.add("m", 4.0, 1.0, 0.0)
    for figures in tracker.snapshot(0.0)["m"].values():
        assert isinstance(figures, RegressionFigures)
        assert figures.count == 1
        assert figures.r2 is None
        assert figures.mae == figures.rmse == figures.max_abs_error == 3.0
        assert figures.abs_error_p50 == figures.abs_error_p99 == 3.0
        assert figures.bias == -3.0
        assert figures.mape == 0.75


def test_zero_true_values_give_no_mape_and_constant_ones_no_r2() -> None:
    """All y_true zero: MAPE None, every record skipped; y_true constant: R² None."""
    tracker = QualityTracker(count_windows=(5,), time_windows=(60.0,))
    tracker.add_many("zeros", np.zeros(10), np.arange(10.0), np.arange(10.0))
    tracker.add_many("constant", np.full(10, 0.1), np.arange(10.0), np.arange(10.0))
    snapshot = tracker.snapshot(9.0)
    for name, figures in snapshot["zeros"].items():
        assert isinstance(figures, RegressionFigures)
        assert figures.mape is None
        assert figures.mape_skipped == figures.count == (5 if name == "last_5" else 10)
        assert figures.r2 is None
    assert all(figures.r2 is None for figures in snapshot["constant"].values())


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


def test_memory_stays_bounded_by_the_windows() -> None:
    """Records held stay near the windows' sizes however many come."""
    tracker = QualityTracker(count_windows=(100,), time_windows=(5.0,))
    rng = np.random.default_rng(5)
    for start in range(0, 20_000, 500):
        at = np.arange(start, start + 500) / 100.0  # 100 records per second
        tracker.add_many("a", rng.random(500), rng.random(500), at)
    for i in range(2_000):
        tracker.add("b", 1.0, 2.0, i / 100.0)
    # 100 + 500 kept per model, plus the last batch's 500 or 256 single records not yet chunked.
    assert tracker.held() <= 2 * (100 + 500) + 500 + 256
    assert tracker.snapshot(199.995)["a"]["last_5s"].count == 500


def test_to_dict_is_json_ready() -> None:
    """to_dict keeps None as None and gives plain floats and ints that json encodes."""
    regression = QualityTracker()
    regression.add_many("m", np.array([0.0, 2.0]), np.array([1.0, 2.5]), np.array([1.0, 2.0]))
    classification = QualityTracker(mode="classification")
    classification.add_many("m", [0, 1], [1, 1], [1.0, 2.0])
    for tracker in (regression, classification):
        for figures in tracker.snapshot(2.0)["m"].values():
            data = figures.to_dict()
            json.dumps(data, allow_nan=False)
            scalars = [v for v in data.values() if not isinstance(v, list)]
            assert all(type(v) in (int, float, type(None)) for v in scalars), data
    r2 = regression.snapshot(2.0)["m"]["all"].to_dict()["r2"]
    assert r2 == pytest.approx(r2_score([0.0, 2.0], [1.0, 2.5]))
    data = classification.snapshot(2.0)["m"]["all"].to_dict()
    assert (data["labels"], data["confusion"]) == ([0.0, 1.0], [[0, 1], [0, 1]])


@pytest.mark.parametrize(
    "config",
    [
        {"count_windows": (0,)},
        {"count_windows": (1.5,)},
        {"time_windows": (-1.0,)},
        {"time_windows": (math.inf,)},
        {"count_windows": (5, 5)},
        {"mode": "ranking"},
    ],
)
def test_wrong_configuration_fails_fast(config: dict[str, Any]) -> None:
    """A window size of no sense, a window given twice or an unknown mode is a ConfigError."""
    with pytest.raises(ConfigError):
        QualityTracker(**config)


def test_non_finite_records_are_refused_whole() -> None:
    """A NaN or infinite value is a RecordError naming the row; nothing of the batch is kept."""
    tracker = QualityTracker()
    with pytest.raises(RecordError, match="row 1 of the batch"):
        tracker.add_many("m", [1.0, 2.0], [1.0, math.nan], [0.0, 1.0])
    with pytest.raises(RecordError, match="must be finite"):
        tracker.add("m", 1.0, 2.0, math.inf)
    with pytest.raises(RecordError, match="overflows"):
        tracker.add("m", -1e308, 1e308, 0.0)
    with pytest.raises(ValueError, match="differ in length"):
        tracker.add_many("m", [1.0, 2.0], [1.0], [0.0, 1.0])
    assert tracker.snapshot(1.0) == {}


def test_a_busy_time_window_folds_old_records_and_keeps_its_figures() -> None:
    """Past `keep` records a time window folds the oldest into per-slice running figures:
    memory stays bounded, the figures stay those of the records inside the window (exact
    sums, quantiles within the sketch's bound), and folded slices leave as the window moves."""
    rng = np.random.default_rng(3)
    at = np.arange(20_000) * 0.01  # 100 records a second for 200 s
    y_true = rng.normal(100, 20, at.size)
    y_pred = y_true + rng.normal(0, 5, at.size)
    window = _LastSeconds(60.0, keep=1_000)
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
    window = _LastSeconds(30.0, mode="classification", keep=500)
    window.extend(y_true, y_pred.astype(float), at)
    now = 120.0 - 0.005
    inside = at > now - 30.0
    assert window.figures(now) == classification_figures(y_true[inside], y_pred[inside])


def test_live_quality_leaves_out_rows_whose_error_overflows() -> None:
    """Two finite values whose difference is infinite are written to the log (error inf) but
    must not stop the metric service nor spoil the windows: the other rows count."""
    import math

    from mlmon.join.joined import Joined
    from mlmon.ops.monitors import LiveQuality
    from mlmon.settings import Settings

    joined = Joined()
    joined.extend(["a", "b", "c"], np.array([1.0, 1e308, 3.0]), np.array([2.0, -1e308, 3.5]),
                  "m", "1", np.array([0.0, 0.0, 0.0]), 10.0, 0.0)  # fmt: skip
    joined.extend(["d"], np.array([1.0]), np.array([1.0]), "other", "1", np.array([0.0]), 10.0, 0.0)
    quality = LiveQuality(Settings())
    quality.add(joined)
    figures = quality.snapshot(10.0)
    assert figures["m"]["all"].count == 2
    assert math.isclose(figures["m"]["all"].mae, 0.75)
    assert figures["other"]["all"].count == 1


def test_a_time_window_gathers_small_batches_into_few_chunks() -> None:
    """At 1,000 records/s the metric adds batches of ~6: a minute of them must not be 10,000
    chunks for every snapshot to join, and singles and batches keep their order."""
    window = _LastSeconds(60.0)
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


def test_live_quality_counts_rows_it_has_not_folded_yet() -> None:
    """LiveQuality gathers small batches before its tracker sees them; a snapshot still sees
    every row added, and a full gathering goes to the tracker without one."""
    from mlmon.join.joined import Joined
    from mlmon.ops.monitors import FOLD_ROWS, LiveQuality
    from mlmon.settings import Settings

    quality = LiveQuality(Settings())
    for batch in range(3):
        joined = Joined()
        joined.extend([f"{batch}-0", f"{batch}-1"], np.array([1.0, 2.0]), np.array([2.0, 4.0]),
                      "m", "1", np.array([0.0, 0.0]), 10.0 + batch, 0.0)  # fmt: skip
        quality.add(joined)
    assert quality.tracker.models == ()  # nothing folded yet
    figures = quality.snapshot(12.0)["m"]
    assert (figures["all"].count, figures["all"].mae) == (6, 1.5)
    many = Joined()
    keys = [str(i) for i in range(FOLD_ROWS)]
    many.extend(keys, np.zeros(FOLD_ROWS), np.ones(FOLD_ROWS), "m", "1",
                np.zeros(FOLD_ROWS), 20.0, 0.0)  # fmt: skip
    quality.add(many)
    assert quality.tracker.held() >= FOLD_ROWS  # folded without a snapshot
