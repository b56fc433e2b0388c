"""Datasets: diabetes shipped, user CSV with a target column, clear errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mlmon.errors import DatasetError
from mlmon.model.dataset import Dataset, RowOrder, check_model_width, load_dataset


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
    """A CSV with a named target becomes features and target; rows with gaps are left out."""
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
        ("a,y\n2024-01-31,2\n", "y", r"column 'a' holds date32\[day\], neither numbers nor text"),
        ("y\n1\n", "y", "no feature columns"),
    ],
)
def test_bad_csv_is_explained(tmp_path: Path, content: str, target: str, message: str) -> None:
    """Missing target, a column of neither numbers nor text (text is categorical: see
    test_dataset_columns.py) or absent feature columns are named."""
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


def test_id_column_names_records_and_is_not_a_feature(tmp_path: Path) -> None:
    """`id` (or the --id-column given) holds record ids, kept beside the features."""
    path = tmp_path / "d.csv"
    path.write_text("id,a,b,y\nr1,1,2,3\nr2,4,5,6\n")
    data = load_dataset(path, "y")
    assert data.feature_names == ("a", "b")
    assert data.ids is not None
    assert data.ids.tolist() == ["r1", "r2"]
    other = tmp_path / "e.csv"
    other.write_text("key,a,y\n10,1,3\n11,4,6\n")
    assert load_dataset(other, "y", id_column="key").feature_names == ("a",)
    assert load_dataset(other, "y").feature_names == ("key", "a")  # no `id`: all features


def test_record_ids_stay_unique_past_the_first_pass(tmp_path: Path) -> None:
    """A row sent again on a later pass gets a new record id, still ending in its own id."""
    path = tmp_path / "d.csv"
    path.write_text("id,a,y\nr1,1,3\nr2,4,6\n")
    data = load_dataset(path, "y")
    order = RowOrder(2, "sequential", None)
    first = data.record_ids("run", 0, order.take(3))
    second = data.record_ids("run", 3, order.take(1))
    assert first == ["run-r1", "run-r2", "run.1-r1"]
    assert second == ["run.1-r2"]


def test_repeated_or_missing_ids_are_refused(tmp_path: Path) -> None:
    """Two rows with one id would be joined as one record: an error naming the column."""
    path = tmp_path / "d.csv"
    path.write_text("id,a,y\nr1,1,3\nr1,4,6\n")
    with pytest.raises(DatasetError, match="id column 'id' has 1 repeated"):
        load_dataset(path, "y")


def test_rows_with_missing_values_are_counted_in_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows with a gap are left out, and one warning says how many and where."""
    path = tmp_path / "gaps.csv"
    path.write_text("a,b,y\n1,2,3\n4,,6\n7,8,\n10,11,12\n")
    with caplog.at_level(logging.WARNING, logger="mlmon.model.dataset"):
        data = load_dataset(path, "y")
    assert data.dropped == 2
    assert len(data.target) == 2
    warnings = [r.getMessage() for r in caplog.records if r.name == "mlmon.model.dataset"]
    assert len(warnings) == 1
    assert "2 of 4 rows have a missing value (in b, y)" in warnings[0]
    assert "left out" in warnings[0]


def test_a_width_the_model_does_not_take_is_refused() -> None:
    """A dataset narrower than the model is named with its columns and the model's width."""
    data = load_dataset()
    check_model_width(data, 10, "m")
    narrow = Dataset("n.csv", data.features[:, :3], data.target, ("a", "b", "c"))
    with pytest.raises(DatasetError) as caught:
        check_model_width(narrow, 10, "m")
    assert "dataset n.csv has 3 feature columns (a, b, c), the model m expects 10" in str(
        caught.value
    )


def test_a_directory_or_unreadable_csv_is_explained(tmp_path: Path) -> None:
    """A directory and an empty file get their own messages."""
    with pytest.raises(DatasetError, match="is a directory"):
        load_dataset(tmp_path, "y")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DatasetError, match="no header row"):
        load_dataset(empty, "y")
