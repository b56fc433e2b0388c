"""Records and expected figures the quality tests share: a stream, its feeding, numpy and
scikit-learn's figures and the comparison within REL (or the sketch's bound)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.metrics import (
    max_error,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    r2_score,
)

from mlmon.monitoring.quality.figures import MAPE_EPS, QUANTILES, RegressionFigures
from mlmon.monitoring.quality.sketch import SKETCH_RELATIVE_ERROR
from mlmon.monitoring.quality.tracker import QualityTracker

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
