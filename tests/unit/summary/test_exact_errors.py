"""FirstErrors and RecentErrors: errors kept while few enough, and saying when they are not."""

from __future__ import annotations

import numpy as np

from mlmon.summary.exact_errors import FirstErrors, RecentErrors


def test_first_errors_are_every_error_up_to_the_capacity_then_none() -> None:
    first = FirstErrors(capacity=10)
    first.add(np.arange(4.0))
    first.add(np.arange(4.0, 10.0))
    values = first.values()
    assert values is not None
    assert values.tolist() == list(range(10))
    first.add(np.array([1.0]))
    assert first.values() is None
    assert first.count == 11


def test_recent_errors_keep_the_window_and_say_when_rows_were_dropped_for_room() -> None:
    """One row a second: the window is every row within `seconds` of its end; rows dropped
    for room make it inexact until they have left the window."""
    recent = RecentErrors(seconds=10.0, capacity=15)
    for second in range(30):
        recent.add(np.array([float(second)]), np.array([float(second)]))
    values = recent.values(29.0)
    assert values is not None
    assert values.tolist() == [float(s) for s in range(20, 30)]  # joined after 19
    window_at_the_end = recent.values(35.0)
    assert window_at_the_end is not None
    assert window_at_the_end.tolist() == [float(s) for s in range(26, 30)]
    # 20 rows in one second: more than the capacity, so the oldest go and the window lies.
    recent.add(np.full(20, 7.0), np.full(20, 30.0))
    assert recent.values(30.0) is None
    # Ten seconds on, the dropped rows are outside the window: exact again.
    recent.add(np.array([1.0]), np.array([41.0]))
    later = recent.values(41.0)
    assert later is not None
    assert later.tolist() == [1.0]
