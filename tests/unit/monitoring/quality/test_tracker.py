"""QualityTracker: every window's figures equal numpy and scikit-learn on the records it holds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)

from mlmon.errors import ConfigError, RecordError
from mlmon.monitoring.quality.figures import (
    ClassificationFigures,
)
from mlmon.monitoring.quality.tracker import QualityTracker
from tests.unit.monitoring.quality.records import (
    REL,
    assert_regression,
    expected_regression,
    feed,
    stream,
)


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


def test_empty_tracker_snapshot_is_empty() -> None:
    """No records, no models: the snapshot is {} (an empty batch adds no model)."""
    tracker = QualityTracker()
    tracker.add_many("m", [], [], [])
    assert tracker.snapshot(0.0) == {}
    assert QualityTracker(mode="classification").snapshot(0.0) == {}


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
