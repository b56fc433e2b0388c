"""`mlmon train --format onnx|skops` fits a real pipeline on a CSV with a categorical column
and missing values; the file it writes loads and predicts."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mlmon.app.cli import app
from mlmon.model.predictors import load_model

CSV = """bill_length_mm,island,body_mass_g,species
39.1,Torgersen,3750,Adelie
39.5,Torgersen,,Adelie
40.3,,3250,Adelie
46.5,Dream,3500,Chinstrap
50.0,Dream,3900,Chinstrap
,Dream,3650,Chinstrap
46.1,Biscoe,4500,Gentoo
50.0,Biscoe,5700,Gentoo
48.7,,4450,Gentoo
"""


@pytest.fixture
def penguins(tmp_path: Path) -> Path:
    path = tmp_path / "penguins.csv"
    header, *rows = CSV.strip().split("\n")
    lines = [header]
    for copy in range(8):  # 72 rows, enough for the booster; masses vary, so 64 distinct
        for row in rows:
            bill, island, mass, species = row.split(",")
            mass = mass and str(int(mass) + 7 * copy)
            lines.append(",".join([bill, island, mass, species]))
    path.write_text("\n".join(lines) + "\n")
    return path


def _train(dataset: Path, target: str) -> list[str]:
    return ["train", "--dataset", str(dataset), "--target", target]


ROWS = {
    "bill_length_mm": np.array([39.0, 49.0, np.nan]),
    "island": np.array(["Torgersen", None, "Biscoe"], dtype=object),
    "body_mass_g": np.array([3700.0, np.nan, 5000.0]),
}


@pytest.mark.parametrize("model_format", ["onnx", "skops"])
def test_train_classifier_writes_a_model_that_predicts(
    penguins: Path, tmp_path: Path, model_format: str
) -> None:
    output = tmp_path / f"penguins.{model_format}"
    result = CliRunner().invoke(
        app,
        [*_train(penguins, "species"), "--format", model_format, "--output", str(output)],
    )
    assert result.exit_code == 0, result.output
    assert "classification, 72 rows, 2 numeric and 1 categorical features" in result.output
    trusted = re.findall(r"MLMON_SKOPS_TRUSTED=(\S+)", result.output)
    model = load_model(output, skops_trusted=trusted[0].split(",") if trusted else ())
    assert model.task == "classification"
    assert model.classes == ("Adelie", "Chinstrap", "Gentoo")
    assert model.feature_names == ("bill_length_mm", "island", "body_mass_g")
    prediction = model.predict_columns(ROWS)
    assert list(prediction.values) == ["Adelie", "Chinstrap", "Gentoo"]
    assert prediction.scores is not None
    np.testing.assert_allclose(prediction.scores.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("model_format", ["onnx", "skops"])
def test_train_regressor_on_a_numeric_target(
    penguins: Path, tmp_path: Path, model_format: str
) -> None:
    """Many distinct numbers: a regressor, predicting floats."""
    output = tmp_path / f"mass.{model_format}"
    result = CliRunner().invoke(
        app,
        [*_train(penguins, "body_mass_g"), "--format", model_format, "--output", str(output)],
    )
    assert result.exit_code == 0, result.output
    assert "regression, 64 rows" in result.output
    assert "(8 rows without a 'body_mass_g' value left out)" in result.output
    trusted = re.findall(r"MLMON_SKOPS_TRUSTED=(\S+)", result.output)
    model = load_model(output, skops_trusted=trusted[0].split(",") if trusted else ())
    assert (model.task, model.classes) == ("regression", None)
    rows = {k: v for k, v in ROWS.items() if k != "body_mass_g"}
    rows["species"] = np.array(["Adelie", "Chinstrap", "Gentoo"], dtype=object)
    values = model.predict_columns(rows).values
    assert values.dtype == np.float64
    assert 3000 < values[0] < 4200 < values[2] < 6000


def test_train_mistakes_are_clear(penguins: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    wrong_suffix = runner.invoke(
        app,
        [*_train(penguins, "species"), "--format", "onnx", "--output", str(tmp_path / "m.json")],
    )
    assert wrong_suffix.exit_code == 2
    assert "needs a .onnx name" in wrong_suffix.output
    no_target = runner.invoke(
        app, ["train", "--dataset", str(penguins), "--target", "nope", "--format", "skops"]
    )
    assert no_target.exit_code == 2
    assert "has no column 'nope'" in no_target.output
    assert "Traceback" not in wrong_suffix.output + no_target.output


def test_the_task_can_be_chosen_when_the_target_looks_like_classes(
    penguins: Path, tmp_path: Path
) -> None:
    """Ratings 1-5 look like five classes; `--task regression` fits a regressor on them, and
    a task the target cannot serve is refused with the reason."""
    rated = tmp_path / "rated.csv"
    lines = penguins.read_text().splitlines()
    rows = [f"{line},{1 + i % 5}" for i, line in enumerate(lines[1:])]
    rated.write_text("\n".join([lines[0] + ",rating", *rows]) + "\n")
    runner = CliRunner()
    output = tmp_path / "rating.onnx"
    base = [*_train(rated, "rating"), "--format", "onnx", "--output", str(output)]
    assert "classification, 72 rows" in runner.invoke(app, base).output
    chosen = runner.invoke(app, [*base, "--task", "regression"])
    assert chosen.exit_code == 0, chosen.output
    assert "regression, 72 rows" in chosen.output
    assert load_model(output).task == "regression"
    rest = ["--format", "onnx", "--output", str(output), "--task"]
    text = runner.invoke(app, [*_train(rated, "species"), *rest, "regression"])
    assert text.exit_code == 2
    assert "'species' holds text; a regressor needs numbers" in text.output
    fractions = runner.invoke(app, [*_train(rated, "bill_length_mm"), *rest, "classification"])
    assert fractions.exit_code == 2
    assert "'bill_length_mm' holds fractions" in fractions.output
    linear = runner.invoke(app, [*_train(rated, "rating"), "--task", "classification"])
    assert linear.exit_code == 2
    assert "--task classification needs --format skops or onnx" in linear.output
    infinite = tmp_path / "infinite.csv"
    infinite.write_text(rated.read_text().replace(",5\n", ",inf\n", 1))
    endless = runner.invoke(app, [*_train(infinite, "rating"), *rest, "regression"])
    assert endless.exit_code == 2
    assert "'rating' is infinite in 1 rows" in endless.output
    assert "Traceback" not in text.output + fractions.output + linear.output + endless.output


def test_up_refuses_a_dataset_column_of_the_wrong_kind_for_an_onnx_model(
    penguins: Path, tmp_path: Path
) -> None:
    """One typo in a numeric column makes the column text: every record would be refused at
    run time, so `up` fails at start naming the column and the cells; a categorical column
    written as numbers fails the same way."""
    model = tmp_path / "penguins.onnx"
    trained = CliRunner().invoke(
        app, [*_train(penguins, "species"), "--format", "onnx", "--output", str(model)]
    )
    assert trained.exit_code == 0, trained.output
    header, *rows = penguins.read_text().splitlines()
    typo = tmp_path / "typo.csv"
    rows[2] = rows[2].replace(rows[2].split(",")[2] or ",", "abc", 1)
    typo.write_text("\n".join([header, *rows]) + "\n")
    up = ["up", "--model", str(model), "--target", "species", "--count", "1", "--no-dashboard"]
    result = CliRunner().invoke(app, [*up, "--dataset", str(typo), "--logs", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "column 'body_mass_g' holds text where the model penguins takes numbers" in (
        result.output
    )
    assert "1 of 72 values are not numbers, e.g. 'abc' (streamed row 3)" in result.output
    coded = tmp_path / "coded.csv"
    islands = {"Torgersen": "1", "Dream": "2", "Biscoe": "3", "": ""}
    coded.write_text(
        "\n".join(
            [header]
            + [
                ",".join([r.split(",")[0], islands[r.split(",")[1]], *r.split(",")[2:]])
                for r in rows
            ]
        )
        + "\n"
    )
    result = CliRunner().invoke(app, [*up, "--dataset", str(coded), "--logs", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "column 'island' holds numbers where the model penguins takes categories" in (
        result.output
    )
    assert "Traceback" not in result.output
