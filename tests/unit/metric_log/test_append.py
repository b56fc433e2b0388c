"""Crash-safe CSV appends: cut back to the committed offset, never a torn row."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlmon.metric_log.append import AppendLog, float_columns, float_rows, format_rows


def read(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def test_floats_are_exact_and_none_is_empty() -> None:
    """Floats are written in their shortest exact form, None as an empty cell, commas quoted."""
    assert format_rows([("a,b", 0.1, None, 3)]) == '"a,b",0.1,,3\n'


def test_new_log_gets_its_header(tmp_path: Path) -> None:
    """A fresh log starts with the header and appends return growing offsets."""
    log = AppendLog(tmp_path / "m.csv", ["id", "v"])
    start = log.open(0)
    end = log.append([("x", 1.5)])
    log.close()
    assert end > start
    assert read(tmp_path / "m.csv") == [["id", "v"], ["x", "1.5"]]


def test_uncommitted_tail_is_cut_back(tmp_path: Path) -> None:
    """Bytes past the committed offset (a torn row after a crash) are dropped on open."""
    path = tmp_path / "m.csv"
    log = AppendLog(path, ["id", "v"])
    log.open(0)
    committed = log.append([("x", 1.0)])
    log.append([("y", 2.0)])
    log.close()
    with path.open("ab") as handle:
        handle.write(b"z,3.")  # a row torn by SIGKILL
    again = AppendLog(path, ["id", "v"])
    assert again.open(committed) == committed
    again.append([("y", 2.0)])
    again.close()
    assert read(path) == [["id", "v"], ["x", "1.0"], ["y", "2.0"]]


def test_replaced_log_starts_afresh(tmp_path: Path) -> None:
    """If the file is shorter than committed (the user replaced it) it is started anew."""
    path = tmp_path / "m.csv"
    path.write_text("id,v\n")
    log = AppendLog(path, ["id", "v"])
    log.open(10_000)
    log.append([("a", 1.0)])
    log.close()
    assert read(path) == [["id", "v"], ["a", "1.0"]]


def test_foreign_log_is_appended_to(tmp_path: Path) -> None:
    """A log written before mlmon's state existed (e.g. by the seeds) is kept and extended."""
    path = tmp_path / "m.csv"
    path.write_text("id,v\nold,1.0")  # no final newline
    log = AppendLog(path, ["id", "v"])
    log.open(0)
    log.append([("new", 2.0)])
    log.close()
    assert read(path) == [["id", "v"], ["old", "1.0"], ["new", "2.0"]]


@given(
    st.lists(st.tuples(*[st.floats() | st.integers(-(10**6), 10**6).map(float)] * 3), max_size=50)
)
def test_float_rows_are_exactly_repr(rows: list[tuple[float, float, float]]) -> None:
    """The fast float formatting writes what repr writes, whatever the magnitude."""
    columns = [np.array(column, dtype=np.float64) for column in zip(*rows, strict=True)]
    assert float_rows(columns) == [",".join(map(repr, row)) for row in rows]


@given(
    st.lists(st.tuples(*[st.floats() | st.integers(-(10**6), 10**6).map(float)] * 3), max_size=50)
)
def test_float_columns_are_exactly_repr(rows: list[tuple[float, float, float]]) -> None:
    """One pass over a matrix writes each column as repr writes its values."""
    matrix = np.array(rows, dtype=np.float64).reshape(len(rows), 3)
    expected = [[repr(row[j]) for row in rows] for j in range(3)]
    assert float_columns(matrix) == expected
    assert float_columns(matrix[:, ::2]) == expected[::2]  # a strided view, not a copy


def test_float_rows_at_the_notation_boundaries() -> None:
    edges = [1e-4, 9.999999999999999e-05, 1e-5, 1e16, 9999999999999998.0, -1e16, -0.0, 5e-324]
    edges += [float("nan"), float("inf"), -float("inf"), 1e-7, 2.5e-5, 1e300, 0.1, 156.0]
    assert float_rows([np.array(edges)]) == [repr(value) for value in edges]
    reversed_ = np.array(edges[::-1])
    assert float_rows([np.array(edges), reversed_]) == [
        f"{a!r},{b!r}" for a, b in zip(edges, edges[::-1], strict=True)
    ]


def test_float_columns_as_json_write_what_json_writes() -> None:
    """`json=True`: the text msgspec (a row's JSON cells) writes, tiny numbers included; JSON
    has no text for NaN, so a matrix holding one is refused rather than written as null."""
    import msgspec

    matrix = np.array([[1e-06, 0.999999], [2.5e-05, 0.0], [1.0, 0.5]])
    columns = float_columns(matrix, json=True)
    expected = [[msgspec.json.encode(v).decode() for v in matrix[:, j].tolist()] for j in (0, 1)]
    assert columns == expected
    assert columns[0][0] == "1e-6"
    with pytest.raises(ValueError, match="NaN"):
        float_columns(np.array([[np.nan]]), json=True)
