"""Quality by event time: exact per bucket whatever order the labels come in, bounded memory."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, log_loss

from mlmon.monitoring.quality.by_time import TIERS, ByEventTime

WIDTH = TIERS[0][0]


def _stream(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sent = 1.7e9 + np.sort(rng.uniform(0, 6 * 3600, rows))  # six hours of predictions
    y_true = rng.normal(150, 50, rows)
    y_pred = y_true + rng.normal(0, 40, rows) * np.where(sent > sent[rows // 2], 1.5, 1.0)
    return sent, y_true, y_pred


def test_each_bucket_is_exact_whatever_order_the_labels_join_in() -> None:
    sent, y_true, y_pred = _stream(30_000, seed=1)
    errors = np.abs(y_true - y_pred)
    late = np.random.default_rng(2).permutation(len(sent))  # labels joined in any order
    by_time = ByEventTime()
    for part in np.array_split(late, 37):
        by_time.add("m", sent[part], y_true[part], y_pred[part], errors[part], False)
    buckets = by_time.buckets()
    starts = np.floor(sent / WIDTH) * WIDTH
    assert [b["start"] for b in buckets] == sorted(set(starts.astype(int).tolist()))
    for bucket in buckets:
        mine = starts == bucket["start"]
        assert bucket["rows"] == int(mine.sum())
        assert bucket["mae"] == pytest.approx(errors[mine].mean(), rel=1e-12)
        assert bucket["rmse"] == pytest.approx(math.sqrt(np.square(errors[mine]).mean()), rel=1e-12)
        assert bucket["bias"] == pytest.approx((y_pred - y_true)[mine].mean(), rel=1e-12)


def test_a_late_label_revises_its_old_bucket() -> None:
    by_time = ByEventTime()
    one = np.array([1.0])
    by_time.add("m", np.array([1.7e9]), one, one + 2, np.array([2.0]), False)
    by_time.add("m", np.array([1.7e9 + 3600]), one, one + 4, np.array([4.0]), False)
    by_time.add("m", np.array([1.7e9 + 1]), one, one + 6, np.array([6.0]), False)  # a day late
    first = by_time.buckets()[0]
    assert (first["rows"], first["mae"]) == (2, 4.0)


def test_old_buckets_merge_into_coarser_ones_and_memory_stays_bounded() -> None:
    by_time = ByEventTime()
    rng = np.random.default_rng(3)
    days = 60
    for day in range(days):  # a row a minute for two months
        sent = 1.7e9 + day * 86_400 + np.arange(0, 86_400, 60.0)
        errors = rng.exponential(10, len(sent))
        by_time.add("m", sent, errors * 0, errors, errors, False)
    widths = [b["width"] for b in by_time.buckets()]
    assert widths.count(WIDTH) <= 86_400 // WIDTH + 1
    assert widths.count(3600) <= 7 * 24 + 1
    assert by_time.held() <= 86_400 // WIDTH + 7 * 24 + days + 2
    assert sum(b["rows"] for b in by_time.buckets()) == days * 1440


def test_classification_buckets_match_scikit_learn() -> None:
    rng = np.random.default_rng(4)
    rows = 5_000
    sent = 1_700_000_100 + rng.uniform(0, 250, rows)  # one bucket: 1,700,000,100 = 300 k
    y_true = rng.integers(0, 3, rows).astype(float)
    scores = rng.dirichlet([1, 1, 1], rows)
    y_pred = scores.argmax(axis=1).astype(float)
    loss = -np.log(np.clip(scores[np.arange(rows), y_true.astype(int)], 1e-15, 1))
    by_time = ByEventTime()
    for part in np.array_split(np.arange(rows), 7):
        by_time.add(
            "c", sent[part], y_true[part], y_pred[part],
            (y_true[part] != y_pred[part]).astype(float), True, loss[part],
        )  # fmt: skip
    (bucket,) = by_time.buckets()
    assert bucket["accuracy"] == pytest.approx(float((y_true == y_pred).mean()), rel=1e-12)
    assert bucket["f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"), rel=1e-12)
    assert bucket["log_loss"] == pytest.approx(log_loss(y_true, scores), rel=1e-9)


def test_rows_without_an_event_time_are_counted_not_bucketed() -> None:
    by_time = ByEventTime()
    two = np.ones(2)
    by_time.add("m", np.array([np.nan, 1.7e9]), two, two, two, False)
    assert by_time.untimed == 1
    assert [b["rows"] for b in by_time.buckets()] == [1]


def test_completeness_is_labelled_over_predicted_merged_as_the_sums() -> None:
    by_time = ByEventTime()
    start = 1_700_000_100  # a multiple of WIDTH
    day = 86_400
    predicted = {start: 4, start + WIDTH: 2, start + 2 * day: 5, -1: 3}  # -1: no event time
    by_time.set_predicted({"m": predicted, "quiet": {start: 7}})
    one = np.ones(1)
    by_time.add("m", np.array([start + 1.0]), one, one, one, False)
    rows = {(b["model"], b["start"], b["width"]): b for b in by_time.buckets()}
    assert rows["m", start, WIDTH]["completeness"] == 1 / 4
    assert rows["m", start + WIDTH, WIDTH]["rows"] == 0  # predictions, no label yet
    assert rows["m", start + WIDTH, WIDTH]["completeness"] == 0
    assert rows["quiet", start, WIDTH]["predicted"] == 7  # a model with no label at all
    # Two days later the first buckets are merged into their hour, counts and sums alike.
    by_time.add("m", np.array([start + 2.0 * day]), one, one, one, False)
    hour = start // 3600 * 3600
    rows = {(b["model"], b["start"], b["width"]): b for b in by_time.buckets()}
    assert (rows["m", hour, 3600]["rows"], rows["m", hour, 3600]["predicted"]) == (1, 6)
    latest = rows["m", start + 2 * day, WIDTH]
    assert (latest["predicted"], latest["completeness"]) == (5, 1 / 5)
    assert sum(b["predicted"] for b in by_time.buckets() if b["model"] == "m") == 11


def test_completeness_is_unknown_without_counts() -> None:
    by_time = ByEventTime()
    one = np.ones(1)
    by_time.add("m", np.array([1.7e9]), one, one, one, False)
    (bucket,) = by_time.buckets()
    assert (bucket["predicted"], bucket["completeness"]) == (None, None)
    by_time.set_predicted({})  # known, and nothing counted for this bucket
    (bucket,) = by_time.buckets()
    assert (bucket["predicted"], bucket["completeness"]) == (0, None)


def test_estimated_cells_merge_as_the_sums_and_give_the_estimate_error() -> None:
    by_time = ByEventTime()
    start, day = 1_700_000_100, 86_400
    cells = {start: np.array([2.0, 6.0, 20.0]), start + WIDTH: np.array([1.0, 5.0, 25.0])}
    by_time.set_predicted({"m": {start: 2, start + WIDTH: 1}}, {"m": cells})
    by_time.add("m", np.array([start + 1.0, start + 2.0]), np.zeros(2), np.full(2, 2.0),
                np.full(2, 2.0), False)  # fmt: skip
    rows = {b["start"]: b for b in by_time.buckets()}
    assert rows[start]["est_mae"] == 3.0
    assert rows[start]["est_rmse"] == pytest.approx(math.sqrt(10.0))
    assert rows[start]["estimate_error"] == 1.0  # |3 - 2|
    assert rows[start + WIDTH]["est_mae"] == 5.0  # no label yet: only the estimate
    assert rows[start + WIDTH]["estimate_error"] is None
    by_time.add("m", np.array([start + 2.0 * day]), np.zeros(1), np.ones(1), np.ones(1), False)
    hour = start // 3600 * 3600
    merged = {(b["start"], b["width"]): b for b in by_time.buckets()}[hour, 3600]
    assert merged["est_mae"] == pytest.approx(11.0 / 3)  # (6 + 5) / (2 + 1)
