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


def _two_models() -> dict[str, object]:
    return {
        "axis": "rows",
        "width": 100,
        "start": [0, 100],
        "models": [
            {"model": "reg", "mae": [40.0, 42.0], "rmse": [50.0, 55.0], "rows": [100, 100]},
            {"model": "clf", "mae": [0.1, 0.2], "rmse": [0.316, 0.447], "rows": [100, 100]},
        ],
    }


def _texts(figure: object) -> list[str]:
    return [text.get_text() for text in figure.texts]  # type: ignore[attr-defined]


def test_a_classifier_is_drawn_as_its_error_rate_alone() -> None:
    """A classifier's error column is 0/1: its "RMSE" (the square root of the error rate) is
    not drawn; beside a regression its error rate has an axis of its own, on the right, in
    percent (on the MAE's axis it would lie flat)."""
    figure = over_time_figure(_two_models(), datetime.now(UTC), classifiers={"clf"})
    axes, rates = figure.axes
    assert [list(line.get_ydata()) for line in axes.get_lines()] == [[40.0, 42.0], [50.0, 55.0]]
    assert [list(line.get_ydata()) for line in rates.get_lines()] == [[0.1, 0.2]]
    assert rates.get_ylabel() == "error rate (classifiers)"
    assert rates.get_ylim()[0] == 0
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == ["reg (200 rows)", "clf (200 rows)", "MAE; error rate (right)", "RMSE"]
    assert any("classifiers: error rate (solid, right axis)" in text for text in _texts(figure))


def test_classifiers_alone_say_error_rate_without_mae() -> None:
    over_time = _two_models()
    over_time["models"] = over_time["models"][1:]  # type: ignore[index]
    figure = over_time_figure(over_time, datetime.now(UTC), classifiers={"clf"})
    axes = figure.axes[0]
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == ["clf (200 rows)", "error rate"]
    assert axes.get_ylabel() == "error rate"
    assert axes.yaxis.get_major_formatter().format_pct(0.25, 1.0).startswith("25")
    assert any(
        text.startswith("Error rate (share of wrong rows) per 100 rows") for text in _texts(figure)
    )


def test_regressions_keep_mae_and_rmse() -> None:
    figure = over_time_figure(_two_models(), datetime.now(UTC))
    assert len(figure.axes[0].get_lines()) == 4
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend == ["reg (200 rows)", "clf (200 rows)", "MAE", "RMSE"]
    assert any(
        text.startswith("MAE (solid) and RMSE (dashed) per 100 rows") for text in _texts(figure)
    )
