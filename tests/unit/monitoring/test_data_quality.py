"""Data quality against the reference: exact shares on a constructed window, from records
and from columns alike; anything a record holds is counted, never raised."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlmon.monitoring.data_quality import MAX_NEW_COLUMNS, DataQuality
from mlmon.monitoring.drift import Reference


def _reference() -> Reference:
    """x: numbers from 0 to 10; island: Biscoe or Dream."""
    islands = np.array(["Biscoe", "Dream"] * 50, dtype=object)
    return Reference.from_data(
        np.linspace(0, 10, 100)[:, None], ["x"], categorical={"island": islands}
    )


# Ten records: one of each problem per column, two carrying a feature the reference lacks.
BODIES: list[dict[str, Any]] = [
    {"x": 1.0, "island": "Biscoe"},
    {"x": None, "island": "Dream"},  # x missing
    {"x": "oops", "island": "Dream"},  # x of the wrong type
    {"x": 11.0, "island": "Biscoe"},  # x out of range
    {"x": -0.5, "island": "Atlantis"},  # x out of range, island unseen
    {"island": "Dream"},  # x absent
    {"x": 10.0, "island": 3},  # island of the wrong type (10 is in range: the max)
    {"x": 0.0, "island": None, "sex": "F"},  # island missing; a new feature
    {"x": 5, "island": "Dream", "sex": "M"},  # an integer is a number
    {"x": True, "island": float("nan")},  # a boolean is no number; NaN is missing
]


def _figures(quality: DataQuality) -> dict[str, Any]:
    return quality.report().to_dict()


def test_figures_are_exact_shares_of_the_window() -> None:
    quality = DataQuality(_reference(), window=100)
    quality.add_rows(BODIES)
    figures = _figures(quality)
    assert figures["rows"] == 10
    assert figures["columns"]["x"] == {
        "kind": "numeric",
        "absent_rate": 0.1,
        "missing_rate": 0.1,
        "type_mismatch_rate": 0.2,
        "out_of_range_rate": 0.2,
        "unseen_rate": None,
    }
    assert figures["columns"]["island"] == {
        "kind": "categorical",
        "absent_rate": 0.0,
        "missing_rate": 0.2,
        "type_mismatch_rate": 0.1,
        "out_of_range_rate": None,
        "unseen_rate": 0.1,
    }
    assert figures["new_columns"] == {"sex": 0.2}
    assert figures["schema_changes"] == ["+sex", "-x"]


def test_columns_give_the_same_figures_as_records() -> None:
    """A batch as columns (Arrow's form): object columns where values are mixed."""
    by_rows, by_columns = DataQuality(_reference()), DataQuality(_reference())
    present = [body for body in BODIES if "x" in body]
    by_rows.add_rows(present)
    columns = {
        name: np.array([body.get(name) for body in present], dtype=object)
        for name in ("x", "island", "sex")
    }
    by_columns.add_columns(columns, len(present))
    rows, cols = _figures(by_rows), _figures(by_columns)
    assert rows["columns"] == cols["columns"]
    assert cols["new_columns"] == {"sex": 1.0}  # a column is carried by every row of its batch


def test_typed_columns_and_an_absent_column() -> None:
    quality = DataQuality(_reference())
    quality.add_columns({"x": np.array([1.0, np.nan, 20.0, 5.0])}, 4)
    figures = _figures(quality)["columns"]
    assert figures["x"]["missing_rate"] == 0.25
    assert figures["x"]["out_of_range_rate"] == 0.25
    assert figures["island"]["absent_rate"] == 1.0
    quality.add_columns({"x": np.array(["a", "b"]), "island": np.array([1.0, np.nan])}, 2)
    figures = _figures(quality)["columns"]
    assert figures["x"]["type_mismatch_rate"] == pytest.approx(2 / 6)
    assert figures["island"]["type_mismatch_rate"] == pytest.approx(1 / 6)
    assert figures["island"]["missing_rate"] == pytest.approx(1 / 6)


def test_the_window_forgets_old_records() -> None:
    quality = DataQuality(_reference(), window=10)
    quality.add_rows(BODIES)
    quality.add_rows([{"x": 2.0, "island": "Dream"}] * 10)
    figures = _figures(quality)
    assert all(
        rate in (0.0, None)
        for column in figures["columns"].values()
        for name, rate in column.items()
        if name != "kind"
    )
    assert figures["new_columns"] == {}
    assert figures["schema_changes"] == []


def test_new_feature_names_are_bounded() -> None:
    quality = DataQuality(_reference())
    quality.add_rows([{"x": 1.0, "island": "Dream", f"f{i}": 1} for i in range(50)])
    figures = _figures(quality)
    assert len(figures["new_columns"]) == MAX_NEW_COLUMNS
    assert figures["new_columns_untracked"] == 50 - MAX_NEW_COLUMNS


def test_no_records_yet_gives_no_rates() -> None:
    figures = _figures(DataQuality(_reference()))
    assert figures["rows"] == 0
    assert figures["columns"]["x"]["missing_rate"] is None
    assert figures["schema_changes"] == []


def test_a_huge_integer_is_out_of_range_not_a_crash() -> None:
    quality = DataQuality(_reference())
    quality.add_rows([{"x": 10**400, "island": "Dream"}])
    assert _figures(quality)["columns"]["x"]["out_of_range_rate"] == 1.0
