"""metrics_over_time.png's axis: the buckets drawn, however few."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from matplotlib.dates import num2date

from mlmon.render.over_time import over_time_figure


@pytest.mark.parametrize("buckets", [1, 3])
def test_the_time_axis_spans_the_buckets_drawn(buckets: int) -> None:
    """A short run (every row in one 1-second bucket) drew one dot on an axis of four years:
    the axis spans exactly the buckets."""
    start = 1_796_625_845.0
    over_time = {
        "axis": "time",
        "width": 1.0,
        "start": [start + i for i in range(buckets)],
        "models": [{"model": "penguins", "mae": [0.014] * buckets, "rmse": [0.12] * buckets,
                    "rows": [500] * buckets}],
    }  # fmt: skip
    figure = over_time_figure(over_time, datetime.now(UTC))
    low, high = (num2date(edge).timestamp() for edge in figure.axes[0].get_xlim())
    assert low == pytest.approx(start, abs=1e-3)
    assert high == pytest.approx(start + buckets, abs=1e-3)


def test_the_row_axis_spans_the_buckets_drawn() -> None:
    over_time = {
        "axis": "rows",
        "width": 100,
        "start": [0, 100],
        "models": [{"model": "m", "mae": [1.0, 2.0], "rmse": [1.5, 2.5], "rows": [100, 100]}],
    }
    figure = over_time_figure(over_time, datetime.now(UTC))
    assert figure.axes[0].get_xlim() == (0.0, 200.0)
