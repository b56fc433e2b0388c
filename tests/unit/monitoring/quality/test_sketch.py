"""LogHistogram: quantiles within the documented bound of numpy's, and outside its range."""

from __future__ import annotations

import numpy as np
import pytest

from mlmon.monitoring.quality.sketch import (
    SKETCH_HIGH,
    SKETCH_LOW,
    LogHistogram,
)
from tests.unit.monitoring.quality.records import (
    SKETCH_BOUND,
    FloatArray,
)


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
