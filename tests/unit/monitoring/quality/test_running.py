"""The `all` window's running figures: sketched quantiles within the bound, windows exact."""

from __future__ import annotations

import numpy as np

from mlmon.monitoring.quality.figures import (
    QUANTILES,
)
from mlmon.monitoring.quality.tracker import QualityTracker
from tests.unit.monitoring.quality.records import (
    SKETCH_BOUND,
)


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
