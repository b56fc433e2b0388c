"""Bucket selectors: what a rule may name, buckets summed wider exactly, the bucket picked."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from mlmon.monitoring.quality.bucket_selector import (
    BucketSelector,
    parse_selector,
    pick,
    widened,
)
from mlmon.monitoring.quality.by_time import ByEventTime


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("final", BucketSelector("final")),
        ("final_1h", BucketSelector("final", 3_600)),
        ("final_15m", BucketSelector("final", 900)),
        ("final_1d", BucketSelector("final", 86_400)),
        ("provisional", BucketSelector("provisional")),
        ("provisional_80", BucketSelector("provisional", None, 0.8)),
        ("provisional_1h_95", BucketSelector("provisional", 3_600, 0.95)),
    ],
)
def test_selectors_read_state_width_and_completeness(text: str, expected: BucketSelector) -> None:
    assert parse_selector(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("final_7m", "does not fit the buckets kept"),
        ("final_90m", "does not fit the buckets kept"),  # 1.5 h cannot hold whole hours
        ("final_80", "only provisional takes a completeness"),
        ("provisional_0", "only provisional takes a completeness, 1 to 100"),
        ("provisional_101", "1 to 100"),
        ("final_1w", "is not STATE[_WIDTH][_PERCENT]"),
    ],
)
def test_a_malformed_selector_says_why(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_selector(text)


def test_widened_buckets_equal_the_rows_grouped_by_the_wider_width() -> None:
    rng = np.random.default_rng(4)
    sent = 1.7e9 + rng.uniform(0, 5 * 3600, 20_000)
    y_true = rng.normal(100, 30, len(sent))
    y_pred = y_true + rng.normal(0, 20, len(sent))
    errors = np.abs(y_pred - y_true)
    by_time = ByEventTime()
    for part in np.array_split(rng.permutation(len(sent)), 13):
        by_time.add("m", sent[part], y_true[part], y_pred[part], errors[part], False)
    hours = np.floor(sent / 3_600) * 3_600
    buckets = widened(by_time, 3_600)
    assert [b["start"] for b in buckets] == sorted(set(hours.astype(int).tolist()))
    for bucket in buckets:
        mine = hours == bucket["start"]
        assert (bucket["width"], bucket["rows"]) == (3_600, int(mine.sum()))
        assert bucket["mae"] == pytest.approx(errors[mine].mean(), rel=1e-12)
        assert bucket["rmse"] == pytest.approx(math.sqrt(np.square(errors[mine]).mean()), rel=1e-12)


def test_classifiers_widen_with_their_class_counts() -> None:
    by_time = ByEventTime()
    sent = 1.7e9 + np.array([0.0, 400.0, 800.0, 1_000.0])  # four 5-minute buckets, one hour
    y_true, y_pred = np.array([0.0, 1.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.0, 1.0])
    by_time.add("c", sent, y_true, y_pred, (y_true != y_pred).astype(float), True)
    (hour,) = widened(by_time, 3_600)
    assert hour["accuracy"] == 0.5
    assert hour["f1"] == pytest.approx(0.5)  # each class: tp 1, fp 1, fn 1
    assert "mae" not in hour


def test_a_bucket_wider_than_the_width_stays_as_it_is() -> None:
    by_time = ByEventTime()
    old, new = 1.7e9, 1.7e9 + 3 * 86_400  # the old row's bucket has merged into an hour
    by_time.add("m", np.array([old, new]), np.zeros(2), np.ones(2), np.ones(2), False)
    widths = {b["start"]: b["width"] for b in widened(by_time, 900)}
    assert widths == {int(old // 3_600 * 3_600): 3_600, int(new // 900 * 900): 900}


def test_predicted_is_summed_and_unknown_when_a_part_is() -> None:
    class Counted(ByEventTime):
        """`buckets()` with prediction counts, as the metric service's counts give them."""

        def __init__(self) -> None:
            super().__init__()
            self.counts: dict[int, int | None] = {}

        def buckets(self) -> list[dict[str, object]]:
            return [{**b, "predicted": self.counts.get(b["start"])} for b in super().buckets()]

    by_time = Counted()
    sent = 1.7e9 // 3_600 * 3_600 + np.array([0.0, 300.0, 3_600.0])
    by_time.add("m", sent, np.zeros(3), np.ones(3), np.ones(3), False)
    starts = [int(s) for s in sent]
    by_time.counts = {starts[0]: 2, starts[1]: 2, starts[2]: None}
    first, second = widened(by_time, 3_600)
    assert (first["predicted"], first["completeness"]) == (4, 0.5)
    assert (second["predicted"], second["completeness"]) == (None, None)


def _bucket(model: str, start: int, state: str, completeness: float | None) -> dict[str, object]:
    return {"model": model, "start": start, "state": state, "completeness": completeness}


def test_pick_takes_each_models_latest_bucket_of_the_state() -> None:
    buckets = [
        _bucket("a", 0, "final", 1.0),
        _bucket("a", 300, "final", 1.0),
        _bucket("a", 600, "provisional", 0.9),
        _bucket("a", 900, "provisional", 0.2),
        _bucket("b", 0, "final", 1.0),
        _bucket("b", 300, "provisional", None),
    ]
    starts = {m: b["start"] for m, b in pick(buckets, BucketSelector("final")).items()}
    assert starts == {"a": 300, "b": 0}
    latest = pick(buckets, BucketSelector("provisional"))
    assert {m: b["start"] for m, b in latest.items()} == {"a": 900, "b": 300}
    # The latest provisional bucket with 80 % of its labels; an unknown share never qualifies.
    enough = pick(buckets, BucketSelector("provisional", None, 0.8))
    assert {m: b["start"] for m, b in enough.items()} == {"a": 600}


def test_widened_buckets_sum_their_estimate_cells() -> None:
    by_time = ByEventTime()
    hour = int(1.7e9 // 3_600 * 3_600)
    by_time.set_predicted(
        {"m": {hour: 1, hour + 300: 1}},
        {"m": {hour: np.array([1.0, 2.0, 4.0]), hour + 300: np.array([1.0, 4.0, 16.0])}},
    )
    by_time.add("m", np.array([hour + 1.0]), np.zeros(1), np.ones(1), np.ones(1), False)
    (bucket,) = widened(by_time, 3_600)
    assert (bucket["est_mae"], bucket["estimate_error"]) == (3.0, 2.0)  # 6 / 2, |3 - 1|
