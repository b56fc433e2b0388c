"""--features, --exclude and --example on the command line: `mlmon train` fits on the columns
chosen, and `up` and `features` refuse a bad choice before anything starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlmon.app.cli import app
from mlmon.errors import ConfigError
from mlmon.model.predictors import load_model
from mlmon.settings import load_settings


@pytest.fixture(autouse=True)
def _logging_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """`up` and `features` configure the root logger for the process; not in a test run."""
    monkeypatch.setattr("mlmon.app.cli.configure_logging", lambda: None)


@pytest.fixture
def birds(tmp_path: Path) -> Path:
    path = tmp_path / "birds.csv"
    lines = ["id,island,bill,wing,mass,species"]
    for i in range(60):
        island = ["Biscoe", "Dream", "Torgersen"][i % 3]
        lines.append(f"b{i},{island},{40 + i % 7},{180 + i % 11},{3500 + 10 * i},{island[:3]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_fits_on_the_columns_chosen(birds: Path, tmp_path: Path) -> None:
    """--features in its order for a pipeline, --exclude for the linear model; never the id."""
    runner = CliRunner()
    output = tmp_path / "m.skops"
    chosen = runner.invoke(
        app,
        [
            *("train", "--dataset", str(birds), "--target", "species", "--format", "skops"),
            *("--features", "wing, island", "--output", str(output)),
        ],
    )
    assert chosen.exit_code == 0, chosen.output
    assert "1 numeric and 1 categorical features" in chosen.output
    trusted = chosen.output.split("MLMON_SKOPS_TRUSTED=")[1].split()[0].split(",")
    assert load_model(output, skops_trusted=trusted).feature_names == ("wing", "island")
    linear = tmp_path / "m.json"
    left = runner.invoke(
        app,
        [
            *("train", "--dataset", str(birds), "--target", "mass", "--output", str(linear)),
            *("--exclude", "island,species"),
        ],
    )
    assert left.exit_code == 0, left.output
    assert json.loads(linear.read_text())["feature_names"] == ["bill", "wing"]


def test_train_refuses_a_column_that_is_not_there(birds: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            *("train", "--dataset", str(birds), "--target", "species", "--format", "skops"),
            *("--features", "bill,beak", "--output", str(tmp_path / "m.skops")),
        ],
    )
    assert result.exit_code == 2
    assert "has no column 'beak' (--features); its columns: id, island, bill" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["up", "features"])
def test_a_bad_choice_stops_before_anything_starts(
    command: str, birds: Path, tmp_path: Path
) -> None:
    """Exit 2 naming the column and listing the file's; no service or dashboard started."""
    result = CliRunner().invoke(
        app,
        [
            *(command, "--dataset", str(birds), "--target", "species"),
            *("--exclude", "wings", *(["--logs", str(tmp_path)] if command == "up" else [])),
        ],
    )
    assert result.exit_code == 2
    assert "has no column 'wings' (--exclude); its columns: id, island, bill, wing" in result.output
    assert "dashboard:" not in result.output


def test_the_default_model_names_the_columns_a_dataset_lacks(birds: Path, tmp_path: Path) -> None:
    """The shipped diabetes model names its ten features: a dataset without them is refused
    naming what is missing."""
    result = CliRunner().invoke(
        app,
        ["up", "--dataset", str(birds), "--target", "mass", "--logs", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "the model diabetes-linear expects 10 (age, sex, bmi" in result.output
    assert "the dataset lacks age, sex, bmi, bp, s1" in result.output
    assert "the model does not take island, bill, wing, species" in result.output


@pytest.mark.parametrize("command", ["up", "features"])
def test_an_unknown_example_lists_the_known_ones(command: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, [command, "--example", "iris"], env={"MLMON_LOGS_DIR": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert "unknown example 'iris'; the examples are: penguins" in result.output


def test_features_and_exclude_settings_are_comma_separated_lists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLMON_FEATURES", " bill, wing ,,island")
    settings = load_settings(exclude="sex")
    assert settings.feature_columns == ("bill", "wing", "island")
    assert settings.features == "bill,wing,island"  # as a child process reads it back
    assert settings.excluded_columns == ("sex",)
    assert load_settings(features="").feature_columns == ()
    monkeypatch.setenv("MLMON_FEATURES", "bill,wing,bill")
    with pytest.raises(ConfigError, match=r"MLMON_FEATURES=.*names 'bill' more than once"):
        load_settings()
