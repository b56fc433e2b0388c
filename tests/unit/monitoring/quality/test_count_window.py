"""`last_N`: for any sequence and batching, the figures of the last N records."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mlmon.monitoring.quality.tracker import QualityTracker

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
