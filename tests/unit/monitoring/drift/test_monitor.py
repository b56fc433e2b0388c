"""DriftMonitor on the diabetes data: what drifts is flagged, and the window is the last rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlmon.model.dataset import Dataset
from mlmon.monitoring.drift.monitor import DriftMonitor
from mlmon.monitoring.drift.reference import PREDICTION, Reference
from tests.unit.monitoring.drift.streams import Predict, bootstrap, report_of


def test_a_resampled_stream_is_not_flagged(diabetes: tuple[Dataset, Predict, Reference]) -> None:
    """1,000 rows bootstrapped from the reference itself: no column drifted."""
    data, predict, reference = diabetes
    stream = bootstrap(data)
    report = report_of(reference, stream, predict(stream))
    assert not report.warming_up
    assert report.drifted_columns == []
    assert [column.name for column in report.columns] == [*data.feature_names, PREDICTION]
    assert all(column.psi is not None and column.psi < 0.1 for column in report.columns)


def test_a_shifted_feature_is_flagged_alone(diabetes: tuple[Dataset, Predict, Reference]) -> None:
    """bmi shifted by one standard deviation: bmi drifts (PSI and KS), no other feature does."""
    data, predict, reference = diabetes
    bmi = data.feature_names.index("bmi")
    stream = bootstrap(data)
    stream[:, bmi] += data.features[:, bmi].std()
    report = report_of(reference, stream, predict(stream))
    column = report.column("bmi")
    assert column.drifted
    assert column.psi is not None
    assert column.psi > 0.2
    assert column.ks_pvalue is not None
    assert column.ks_pvalue < 0.01
    # The model leans on bmi, so its predictions move too.
    assert report.drifted_columns == ["bmi", PREDICTION]


def test_shifted_predictions_are_flagged(diabetes: tuple[Dataset, Predict, Reference]) -> None:
    """Predictions moved by one standard deviation, features unchanged: only 'prediction'."""
    data, predict, reference = diabetes
    stream = bootstrap(data)
    shift = predict(data.features).std()
    report = report_of(reference, stream, predict(stream) + shift)
    assert report.drifted_columns == [PREDICTION]
    assert report.drifted


def test_warming_up_window_is_never_flagged(diabetes: tuple[Dataset, Predict, Reference]) -> None:
    """Fewer than min_rows rows are not flagged however far they moved; the next row flags."""
    data, predict, reference = diabetes
    stream = bootstrap(data, rows=200) + 1.0
    monitor = DriftMonitor(reference, window=1000, min_rows=200)
    monitor.add(stream[:199], predict(stream[:199]))
    early = monitor.report()
    assert early.warming_up
    assert early.drifted_columns == []
    assert all(column.warming_up for column in early.columns)
    monitor.add(stream[199:], predict(stream[199:]))
    assert not monitor.report().warming_up
    assert "bmi" in monitor.report().drifted_columns


def test_ring_buffer_reports_exactly_the_last_window(
    diabetes: tuple[Dataset, Predict, Reference],
) -> None:
    """5,000 rows added in uneven chunks with window 1,000: the report of the last 1,000 alone."""
    data, predict, reference = diabetes
    rows = bootstrap(data, rows=5000, seed=11)
    rows[:4000] += 0.05  # older rows drift; they must have left the window
    predictions = predict(rows)
    monitor = DriftMonitor(reference, window=1000)
    start = 0
    for size in [1, 999, 1, 1500, 7, 333, 2000, 159]:
        monitor.add(rows[start : start + size], predictions[start : start + size])
        start += size
    assert start == 5000
    assert monitor.rows == 1000
    last = DriftMonitor(reference, window=1000)
    last.add(rows[-1000:], predictions[-1000:])
    assert monitor.report() == last.report()
    assert monitor.report().drifted_columns == []
    at_once = DriftMonitor(reference, window=1000)
    at_once.add(rows, predictions)
    assert at_once.report() == last.report()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=30), st.integers(1, 60))
def test_any_chunking_keeps_the_last_window(sizes: list[int], window: int) -> None:
    """However rows are batched, the window holds the last `window` of them."""
    rows = np.arange(sum(sizes) * 2, dtype=float).reshape(-1, 2)
    reference = Reference.from_data(rows, ["a", "b"], rows[:, 0], bins=4)
    monitor = DriftMonitor(reference, window=window, min_rows=1)
    start = 0
    for size in sizes:
        monitor.add(rows[start : start + size], rows[start : start + size, 1])
        start += size
    expected = DriftMonitor(reference, window=window, min_rows=1)
    expected.add(rows[-window:], rows[-window:, 1])
    assert monitor.rows == min(window, len(rows))
    assert monitor.report() == expected.report()


def test_rows_without_predictions_leave_the_prediction_column_out(
    diabetes: tuple[Dataset, Predict, Reference],
) -> None:
    """Feature rows added with no predictions: features are compared, predictions wait."""
    data, _, reference = diabetes
    monitor = DriftMonitor(reference)
    monitor.add(bootstrap(data))
    report = monitor.report()
    assert report.column(PREDICTION).rows == 0
    assert report.column(PREDICTION).warming_up
    assert report.column("bmi").rows == 1000
    assert report.drifted_columns == []


def test_missing_values_are_left_out(diabetes: tuple[Dataset, Predict, Reference]) -> None:
    """NaN in a feature counts as missing: that column holds fewer values, none of them NaN."""
    data, predict, reference = diabetes
    stream = bootstrap(data)
    stream[:100, 0] = np.nan
    report = report_of(reference, stream, predict(np.nan_to_num(stream)))
    assert report.column("age").rows == 900
    age = report.column("age").psi
    assert age is not None
    assert math.isfinite(age)


def test_monitor_rejects_mismatched_rows(diabetes: tuple[Dataset, Predict, Reference]) -> None:
    """Wrong width, wrong prediction count or predictions without a reference fail loudly."""
    data, _, reference = diabetes
    monitor = DriftMonitor(reference)
    with pytest.raises(ValueError, match="rows of 10 features"):
        monitor.add(np.zeros((3, 9)))
    with pytest.raises(ValueError, match="2 predictions for 3"):
        monitor.add(np.zeros((3, 10)), np.zeros(2))
    no_predictions = DriftMonitor(Reference.from_data(data.features, data.feature_names))
    with pytest.raises(ValueError, match="reference has none"):
        no_predictions.add(np.zeros((1, 10)), np.zeros(1))
    with pytest.raises(ValueError, match="min_rows"):
        DriftMonitor(reference, window=100, min_rows=200)
