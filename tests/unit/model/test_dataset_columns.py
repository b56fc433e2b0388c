"""Datasets with categorical columns and missing values: named columns, named records,
the features chosen by name, and the model's feature names checked against them."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest

from mlmon.errors import DatasetError
from mlmon.model.columns_data import labels, record_bodies
from mlmon.model.dataset import check_model_columns, load_dataset
from mlmon.model.predictors import Predictor

CSV = """id,island,bill,mass,sex,species
a1,Biscoe,39.1,3750,male,Adelie
a2,Dream,,3800,,Adelie
a3,,40.3,NA,female,Chinstrap
a4,Torgersen,36.7,3450,female,
a5,NA,39.3,3650,male,Gentoo
"""


@pytest.fixture
def penguins_csv(tmp_path: Path) -> Path:
    path = tmp_path / "p.csv"
    path.write_text(CSV)
    return path


def _rows(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.intp)


def test_categorical_and_missing_csv_loads_as_named_columns(penguins_csv: Path) -> None:
    """Text columns are categorical (str, None where empty or "NA"), numbers float64 with NaN;
    rows with a missing feature stay; the id column is not a feature."""
    data = load_dataset(penguins_csv, "species")
    assert data.named
    assert data.feature_names == ("island", "bill", "mass", "sex")
    assert list(data.columns) == ["island", "bill", "mass", "sex"]
    assert data.columns["island"].dtype == object
    assert data.columns["island"].tolist() == ["Biscoe", "Dream", None, None]
    assert data.columns["sex"].tolist() == ["male", None, "female", "male"]
    np.testing.assert_array_equal(data.columns["bill"], [39.1, np.nan, 40.3, 39.3])
    np.testing.assert_array_equal(data.columns["mass"], [3750, 3800, np.nan, 3650])
    assert data.target_labels is not None
    assert data.target_labels.tolist() == ["Adelie", "Adelie", "Chinstrap", "Gentoo"]
    assert np.isnan(data.target).all()
    assert len(data.target) == 4
    assert data.ids is not None
    assert data.ids.tolist() == ["a1", "a2", "a3", "a5"]
    assert data.features.shape == (4, 4)  # numbers in place, categories all NaN
    np.testing.assert_array_equal(data.features[:, 1], data.columns["bill"])
    assert np.isnan(data.features[:, 0]).all()


def test_missing_target_rows_are_left_out_with_the_warning(
    penguins_csv: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mlmon.model.dataset"):
        data = load_dataset(penguins_csv, "species")
    assert data.dropped == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "mlmon.model.dataset"]
    assert len(warnings) == 1
    assert "1 of 5 rows have a missing value (in species); they are left out" in warnings[0]


def test_parquet_with_categories_nulls_and_a_numeric_target(tmp_path: Path) -> None:
    """Parquet's own nulls and dictionary-encoded text load the same way; a numeric target
    stays numbers (no labels), and a row without one is left out."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "colour": pa.array(["red", None, "blue", "red"]).dictionary_encode(),
            "size": pa.array([1.5, 2.5, None, 4.0]),
            "count": pa.array([1, None, 3, 4], type=pa.int64()),
            "flag": pa.array([True, False, None, True]),
            "y": pa.array([10.0, 20.0, 30.0, None]),
        }
    )
    path = tmp_path / "d.parquet"
    pq.write_table(table, path)
    data = load_dataset(path, "y")
    assert data.named
    assert data.target_labels is None
    assert data.target.tolist() == [10.0, 20.0, 30.0]
    assert data.columns["colour"].tolist() == ["red", None, "blue"]
    np.testing.assert_array_equal(data.columns["size"], [1.5, 2.5, np.nan])
    np.testing.assert_array_equal(data.columns["count"], [1, np.nan, 3])
    np.testing.assert_array_equal(data.columns["flag"], [1.0, 0.0, np.nan])  # numeric 0/1
    assert data.dropped == 1


def test_a_boolean_target_is_categorical(tmp_path: Path) -> None:
    """Its labels are "0" and "1", as frame.labels gives a classifier's boolean classes."""
    path = tmp_path / "b.csv"
    path.write_text("x,ok\n1,true\n2,false\n3,\n")
    data = load_dataset(path, "ok")
    assert data.named
    assert data.target_labels is not None
    assert data.target_labels.tolist() == ["1", "0"]
    assert data.dropped == 1


def test_an_all_numeric_complete_file_keeps_the_fast_path(tmp_path: Path) -> None:
    """No categories, no gaps, numeric target: not named, the matrix as before, and the
    columns are the matrix's own columns."""
    path = tmp_path / "n.csv"
    path.write_text("id,a,b,y\nr1,1,2,3\nr2,4,5,6\n")
    data = load_dataset(path, "y")
    assert not data.named
    assert data.features.tolist() == [[1, 2], [4, 5]]
    assert data.target_labels is None
    assert np.shares_memory(data.columns["a"], data.features)
    assert not load_dataset().named  # diabetes


def test_record_bodies_round_trip_values_and_none(penguins_csv: Path) -> None:
    data = load_dataset(penguins_csv, "species")
    bodies = record_bodies(data, np.array([2, 0, 1, 2], dtype=np.intp))
    assert bodies[1] == {"island": "Biscoe", "bill": 39.1, "mass": 3750.0, "sex": "male"}
    assert bodies[0] == {"island": None, "bill": 40.3, "mass": None, "sex": "female"}
    assert bodies[2] == {"island": "Dream", "bill": None, "mass": 3800.0, "sex": None}
    assert bodies[3] == bodies[0]
    assert list(bodies[0]) == list(data.feature_names)  # feature order
    assert [type(value) for value in bodies[1].values()] == [str, float, float, str]
    assert labels(data, np.array([3, 0], dtype=np.intp)) == ["Gentoo", "Adelie"]
    assert record_bodies(data, np.empty(0, dtype=np.intp)) == []


def test_record_bodies_and_labels_of_a_numeric_dataset() -> None:
    """Diabetes as records: Python floats equal to the matrix's, its float target as labels."""
    data = load_dataset()
    rows = np.array([5, 0], dtype=np.intp)
    bodies = record_bodies(data, rows)
    assert list(bodies[0]) == list(data.feature_names)
    assert [bodies[1][name] for name in data.feature_names] == data.features[0].tolist()
    truths = labels(data, rows)
    assert isinstance(truths, np.ndarray)
    assert truths.tolist() == data.target[rows].tolist()
    assert not any(math.isnan(v) for body in bodies for v in body.values() if isinstance(v, float))


def test_features_and_exclude_choose_the_columns(penguins_csv: Path) -> None:
    """--features picks columns in the order given; --exclude leaves some out."""
    chosen = load_dataset(penguins_csv, "species", features=("sex", "bill"))
    assert chosen.feature_names == ("sex", "bill")
    assert list(chosen.columns) == ["sex", "bill"]
    assert list(record_bodies(chosen, _rows(1))[0]) == ["sex", "bill"]
    left = load_dataset(penguins_csv, "species", exclude=("island", "sex"))
    assert left.feature_names == ("bill", "mass")
    assert left.named
    assert np.isnan(left.features).any()
    both = load_dataset(penguins_csv, "species", features=("sex", "bill", "mass"), exclude=["sex"])
    assert both.feature_names == ("bill", "mass")
    diabetes = load_dataset(features=["bmi", "age"])
    assert diabetes.feature_names == ("bmi", "age")
    np.testing.assert_array_equal(diabetes.features[:, 0], load_dataset().columns["bmi"])


@pytest.mark.parametrize(
    ("features", "exclude", "message"),
    [
        (("bill", "beak"), (), r"no column 'beak' \(--features\); its columns: id, island, bill"),
        ((), ("wings",), r"no column 'wings' \(--exclude\); its columns: id, island"),
        (("species",), (), r"--features names 'species', the target"),
        (("id", "bill"), (), r"--features names 'id', the id column"),
        ((), ("island", "bill", "mass", "sex"), "no feature columns besides 'species' once"),
    ],
)
def test_a_bad_choice_of_columns_is_named(
    penguins_csv: Path, features: tuple[str, ...], exclude: tuple[str, ...], message: str
) -> None:
    with pytest.raises(DatasetError, match=message):
        load_dataset(penguins_csv, "species", features=features, exclude=exclude)


def test_a_bad_choice_on_diabetes_lists_its_columns() -> None:
    with pytest.raises(DatasetError, match=r"no column 'bmj' \(--features\); its columns: age"):
        load_dataset(features=["bmj"])


@pytest.fixture(scope="module")
def skops_model(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    """A real pipeline fitted by `train_pipeline` on a small frame, saved with skops."""
    from mlmon.model.predictors import load_model
    from mlmon.model.training import train_pipeline

    directory = tmp_path_factory.mktemp("model")
    rng = np.random.default_rng(3)
    lines = ["island,bill,mass,species"]
    for i in range(60):
        island = ["Biscoe", "Dream", "Torgersen"][i % 3]
        lines.append(f"{island},{rng.normal(42, 4):.1f},{rng.normal(4000, 300):.0f},{island[0]}")
    path = directory / "train.csv"
    path.write_text("\n".join(lines) + "\n")
    trained = train_pipeline(directory / "m.skops", "skops", path, "species")
    return load_model(trained.output, skops_trusted=trained.untrusted)


def test_a_dataset_lacking_the_models_columns_fails_naming_them(
    penguins_csv: Path, skops_model: Predictor
) -> None:
    """The model takes island, bill and mass; without mass (and with sex, which the model does
    not take) the error names both."""
    model = skops_model
    assert model.feature_names == ("island", "bill", "mass")
    data = load_dataset(penguins_csv, "species", exclude=["mass"])
    with pytest.raises(DatasetError) as caught:
        check_model_columns(data, model.feature_names, model.n_features, model.name)
    message = str(caught.value)
    assert "dataset p.csv has 3 feature columns (island, bill, sex)" in message
    assert "the model m expects 3 (island, bill, mass)" in message
    assert "the dataset lacks mass; the model does not take sex" in message


def test_matching_names_pass_and_extra_named_columns_are_only_a_warning(
    penguins_csv: Path, skops_model: Predictor, caplog: pytest.LogCaptureFixture
) -> None:
    model = skops_model
    exact = load_dataset(penguins_csv, "species", features=["island", "bill", "mass"])
    check_model_columns(exact, model.feature_names, model.n_features, model.name)
    reordered = load_dataset(penguins_csv, "species", features=["mass", "island", "bill"])
    check_model_columns(reordered, model.feature_names, model.n_features, model.name)  # by name
    with caplog.at_level(logging.WARNING, logger="mlmon.model.dataset"):
        check_model_columns(
            load_dataset(penguins_csv, "species"), model.feature_names, 3, model.name
        )
    assert any("the model m does not take sex" in r.getMessage() for r in caplog.records)


def test_numbers_sent_by_position_must_be_in_the_models_order(tmp_path: Path) -> None:
    """All numeric, vectors go by position: another order is refused, naming the fix."""
    path = tmp_path / "n.csv"
    path.write_text("b,a,y\n1,2,3\n4,5,6\n")
    data = load_dataset(path, "y")
    with pytest.raises(DatasetError, match=r"in another order.*--features a,b"):
        check_model_columns(data, ("a", "b"), 2, "lin")
    check_model_columns(load_dataset(path, "y", features=["a", "b"]), ("a", "b"), 2, "lin")
    with pytest.raises(DatasetError, match=r"the model does not take b.*--features a$"):
        check_model_columns(data, ("a",), 1, "lin")


def test_a_model_without_names_keeps_the_width_check(penguins_csv: Path) -> None:
    data = load_dataset(penguins_csv, "species")
    check_model_columns(data, None, 4, "anon")
    with pytest.raises(DatasetError, match=r"has 4 feature columns .* the model anon expects 3"):
        check_model_columns(data, None, 3, "anon")


def test_column_kinds_pass_when_they_match_or_hold_only_missing_values() -> None:
    """Nothing but missing values says no kind; numbers written as text are refused too (the
    model's numeric input cannot take a text column)."""
    from mlmon.model.columns_data import check_column_kinds

    columns = {
        "mass": np.array([3700.0, np.nan]),
        "island": np.array(["Dream", None], dtype=object),
        "gaps": np.array([None, None], dtype=object),
        "blank": np.array([np.nan, np.nan]),
        "written": np.array(["1.5", None], dtype=object),
    }
    kinds = {"mass": False, "island": True, "gaps": False, "blank": True}
    check_column_kinds("f.csv", columns, kinds, "m")
    with pytest.raises(DatasetError, match=r"'island' holds text .* 1 of 2 values .* 'Dream'"):
        check_column_kinds("f.csv", columns, {"island": False}, "m")
    with pytest.raises(DatasetError, match="'written' holds numbers written as text"):
        check_column_kinds("f.csv", columns, {"written": False}, "m")
