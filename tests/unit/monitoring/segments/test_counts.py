"""The bounded per-value counts: exact where kept, every row in one segment, memory flat."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mlmon.monitoring.segments import OTHER_VALUE, SegmentTable
from mlmon.monitoring.segments.counts import KEPT_VALUES, WATCHED_VALUES, KeyValues


def _feed(table: SegmentTable, values: list[str], errors: np.ndarray, block: int) -> None:
    for start in range(0, len(values), block):
        part = values[start : start + block]
        distinct = sorted(set(part))
        where = {value: i for i, value in enumerate(distinct)}
        index = np.array([where[v] for v in part], dtype=np.int32)
        table.add(errors[start : start + block], index, [{"k": v} for v in distinct])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=400),
    st.integers(1, 50),
    st.integers(2, 8),
)
def test_every_row_is_in_one_segment_and_kept_values_are_exact_from_admission(
    codes: list[int], block: int, kept: int
) -> None:
    values = [f"v{c}" for c in codes]
    errors = np.arange(len(values), dtype=np.float64) % 7
    table = SegmentTable(kept=kept, watched=4)
    _feed(table, values, errors, block)
    segments = list(table.segments())
    assert sum(stats.count for _, _, stats in segments) == len(values)
    assert abs(sum(stats.total for _, _, stats in segments) - errors.sum()) < 1e-9
    assert len(table.keys["k"].values) <= kept
    for _, value, stats in segments:
        if value == OTHER_VALUE:
            continue
        rows = [i for i, v in enumerate(values) if v == value]
        # Kept from some row on: its figures are those of its last `count` rows.
        tail = rows[len(rows) - stats.count :]
        assert stats.count >= 1
        assert abs(stats.total - errors[tail].sum()) < 1e-9


def test_frequent_values_are_kept_whatever_came_first() -> None:
    """Rare values first, then a frequent one: it displaces a rare one."""
    table = SegmentTable(kept=3, watched=8)
    rare = [f"rare{i}" for i in range(3)]
    frequent = ["often"] * 50
    _feed(table, rare + frequent + rare, np.ones(56), 1)
    values = table.keys["k"].values
    assert "often" in values
    assert values["often"].count >= 40


def test_memory_is_flat_with_100000_distinct_values() -> None:
    rng = np.random.default_rng(1)
    table = SegmentTable()
    n = 100_000
    values = [f"user{i}" for i in range(n)]  # every row its own value
    values[::4] = ["eu"] * len(values[::4])  # and one frequent value
    _feed(table, values, rng.exponential(1.0, n), 5000)
    key = table.keys["k"]
    assert len(key.values) <= KEPT_VALUES
    assert len(key._watch) <= WATCHED_VALUES
    assert "eu" in key.values
    assert key.values["eu"].count == n // 4
    assert (
        key.values["eu"].count
        + sum(s.count for v, s in key.values.items() if v != "eu")
        + key.other.count
        == n
    )


def test_keys_past_the_limit_are_left_out() -> None:
    table = SegmentTable(max_keys=2)
    tags = [{f"key{i}": "x"} for i in range(5)]
    table.add(np.ones(5), np.arange(5, dtype=np.int32), tags)
    assert list(table.keys) == ["key0", "key1"]
    assert table.keys_left_out == 3
    assert table.overall.count == 5


def test_rows_without_tags_count_overall_only() -> None:
    table = SegmentTable()
    table.add(np.array([1.0, 3.0]), np.array([-1, 0], dtype=np.int32), [{"region": "eu"}])
    assert table.overall.count == 2
    assert table.keys["region"].values["eu"].total == 3.0


def test_key_values_count_a_value_not_kept() -> None:
    values = KeyValues(kept=1, watched=2)
    values.add("a", 5, 5.0, 5.0)
    values.add("b", 3, 3.0, 3.0)  # 3 <= 5: stays in other
    assert (list(values.values), values.other.count) == (["a"], 3)
    values.add("b", 3, 3.0, 3.0)  # 6 > 5: admitted, "a" folded into other
    assert list(values.values) == ["b"]
    assert values.values["b"].count == 3
    assert values.other.count == 3 + 5
