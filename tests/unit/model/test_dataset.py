"""Datasets: diabetes shipped, user CSV with a target column, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlmon.errors import DatasetError
from mlmon.model.dataset import RowOrder, load_dataset


def test_diabetes_is_the_default() -> None:
    """With no file, the 442-row, 10-feature diabetes set loads without any download."""
    data = load_dataset()
    assert data.features.shape == (442, 10)
    assert data.target.shape == (442,)


def test_shipped_diabetes_equals_scikit_learns() -> None:
    """The packaged copy is exactly what sklearn.datasets.load_diabetes() returns."""
    from sklearn.datasets import load_diabetes

    reference = load_diabetes()
    data = load_dataset()
    assert (data.features == reference.data).all()
    assert (data.target == reference.target).all()
    assert data.feature_names == tuple(reference.feature_names)


def test_user_csv_with_target(tmp_path: Path) -> None:
    """A CSV with a named target becomes features and target; rows with gaps are dropped."""
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n1,2,3\n4,,6\n7,8,9\n")
    data = load_dataset(path, "y")
    assert data.feature_names == ("a", "b")
    assert data.features.tolist() == [[1, 2], [7, 8]]
    assert data.target.tolist() == [3, 9]


def test_user_parquet(tmp_path: Path) -> None:
    """A Parquet file loads like a CSV."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0], "t": [3.0, 4.0]}), path)
    assert load_dataset(path, "t").features.tolist() == [[1.0], [2.0]]


@pytest.mark.parametrize(
    ("content", "target", "message"),
    [
        ("a,y\n1,2\n", "z", "no target column 'z'"),
        ("a,y\nx,2\n", "y", "column 'a' is not numeric"),
        ("y\n1\n", "y", "no feature columns"),
    ],
)
def test_bad_csv_is_explained(tmp_path: Path, content: str, target: str, message: str) -> None:
    """Missing target, non-numeric or absent feature columns are named."""
    path = tmp_path / "d.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_dataset(path, target)


def test_file_without_target_flag_is_explained(tmp_path: Path) -> None:
    """--dataset without --target says which flag is missing."""
    with pytest.raises(DatasetError, match="needs --target"):
        load_dataset(tmp_path / "d.csv", None)


def test_row_orders() -> None:
    """Sequential cycles in file order; random visits every row once per pass, reproducibly."""
    sequential = RowOrder(3, "sequential", None)
    assert sequential.take(7).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert sequential.take(2).tolist() == [1, 2]  # each take goes on where the last stopped
    first = RowOrder(50, "random", 1).take(50).tolist()
    assert sorted(first) == list(range(50))
    assert first == RowOrder(50, "random", 1).take(50).tolist()
    assert first != list(range(50))


def test_ids_taken_at_once_go_on_from_one_at_a_time() -> None:
    from mlmon.ids import IdGenerator

    ids = IdGenerator("r")
    assert [ids(), *ids.take(3), ids()] == ["r-1", "r-2", "r-3", "r-4", "r-5"]


def test_taking_no_rows_gives_an_empty_array() -> None:
    order = RowOrder(3, "sequential", None)
    assert order.take(0).tolist() == []
    assert order.take(4).tolist() == [0, 1, 2, 0]
