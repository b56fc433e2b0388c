"""Datasets with categories and gaps through the real command line: `--example penguins`
resolves (trained once, then reused), and a model or a choice of columns that does not fit
the dataset stops `mlmon up` before anything starts, naming the columns."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from tests.e2e.cli import mlmon

pytestmark = pytest.mark.e2e


def test_example_penguins_resolves_once_and_its_checks_run(tmp_path: Path) -> None:
    """The example's data and model land in <logs>/examples/; the model is fitted on the first
    run only; a feature it does not have stops `up` naming the file's columns."""
    logs = tmp_path / "logs"
    args = ("up", "--example", "penguins", "--logs", str(logs), "--no-dashboard")
    first = mlmon(*args, "--features", "island,beak")
    model = logs / "examples" / "penguins.skops"
    assert f"example penguins: {logs / 'examples' / 'penguins.csv'} (target species)" in (
        first.stdout
    )
    assert model.is_file()
    assert first.returncode == 2
    assert "has no column 'beak' (--features); its columns: id, species, island" in first.stderr
    assert "Traceback" not in first.stderr
    fitted = model.stat().st_mtime_ns
    second = mlmon(*args, "--exclude", "sex")
    assert second.returncode == 2
    assert "the dataset lacks sex" in second.stderr
    assert model.stat().st_mtime_ns == fitted  # reused, not fitted again
    assert not (logs / "metric_log.csv").exists()
    # And the whole example, offline: named records with gaps through the cached classifier.
    run = mlmon(*args, "--count", "400", "--rate", "0")
    assert run.returncode == 0, run.stderr
    assert "accuracy" in run.stdout
    with (logs / "metric_log.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 400
    species = {"Adelie", "Chinstrap", "Gentoo"}
    assert {row["y_true"] for row in rows} <= species
    assert {row["y_pred"] for row in rows} <= species
    assert all(set(json.loads(row["scores"])) == species for row in rows)
    right = sum(row["y_true"] == row["y_pred"] for row in rows)
    assert 0.9 < right / 400 < 1.0  # fitted on 40 % of the birds: a few errors, not a constant
    assert model.stat().st_mtime_ns == fitted


def test_a_skops_model_whose_columns_the_dataset_lacks_stops_up(tmp_path: Path) -> None:
    """A pipeline fitted by `mlmon train` on island, bill and mass, streamed a file with
    island, bill and wing: exit 2 naming mass (missing) and wing (not the model's)."""
    fitted_on = tmp_path / "fit.csv"
    streamed = tmp_path / "stream.csv"
    rows = [f"{['Biscoe', 'Dream'][i % 2]},{40 + i % 9},{3500 + 25 * i},{i % 2}" for i in range(50)]
    fitted_on.write_text("island,bill,mass,y\n" + "\n".join(rows) + "\n")
    streamed.write_text("island,bill,wing,y\nDream,41,190,1\nBiscoe,,200,0\n")
    model = tmp_path / "m.skops"
    trained = mlmon(
        *("train", "--dataset", str(fitted_on), "--target", "y", "--format", "skops"),
        *("--output", str(model)),
    )
    assert trained.returncode == 0, trained.stderr
    trusted = re.findall(r"MLMON_SKOPS_TRUSTED=(\S+)", trained.stdout)[0]
    result = mlmon(
        *("up", "--model", str(model), "--dataset", str(streamed), "--target", "y"),
        *("--logs", str(tmp_path / "logs")),
        env={"MLMON_SKOPS_TRUSTED": trusted},
    )
    assert result.returncode == 2
    assert "dataset stream.csv has 3 feature columns (island, bill, wing)" in result.stderr
    assert "the model m expects 3 (island, bill, mass)" in result.stderr
    assert "the dataset lacks mass; the model does not take wing" in result.stderr
    assert "dashboard:" not in result.stdout
    assert "Traceback" not in result.stderr
