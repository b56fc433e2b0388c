"""`--example penguins`: the packaged data and a model fitted on it, offline, trained once and
reused; the settings get only what the user did not give, and `mlmon up`'s checks pass."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer

from mlmon.app.cli import _check_dataset
from mlmon.errors import ConfigError
from mlmon.model.dataset import check_model_columns, load_dataset
from mlmon.model.examples import CACHE_DIR, apply_example, resolve_example
from mlmon.model.predictors import load_model
from mlmon.settings import load_settings

SPECIES = {"Adelie", "Chinstrap", "Gentoo"}


@pytest.fixture(autouse=True)
def _logging_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """`up` and `features` configure the root logger for the process; not in a test run."""
    monkeypatch.setattr("mlmon.app.cli.configure_logging", lambda: None)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A logs directory whose examples/ holds penguins, resolved once with the network off."""
    directory = tmp_path_factory.mktemp("logs")
    with pytest.MonkeyPatch.context() as patch:

        def refuse(*args: Any, **kwargs: Any) -> None:
            raise AssertionError(f"the example tried the network: {args}")

        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        resolve_example("penguins", directory / CACHE_DIR)
    return directory


def test_penguins_resolves_offline_and_is_trained_once(logs: Path) -> None:
    """The first resolution (in the fixture, network refused) wrote the data and the model;
    the next one reuses both, the model untouched."""
    cache = logs / CACHE_DIR
    model = cache / "penguins.skops"
    before = (model.stat().st_mtime_ns, (cache / "penguins.csv").stat().st_mtime_ns)
    again = resolve_example("penguins", cache)
    assert (again.dataset, again.model, again.target) == (cache / "penguins.csv", model, "species")
    assert (model.stat().st_mtime_ns, again.dataset.stat().st_mtime_ns) == before
    assert again.skops_trusted  # HistGradientBoosting's trees, which skops asks to be named
    names = sorted(path.name for path in cache.iterdir())
    assert names == ["penguins-training.csv", "penguins.csv", "penguins.skops"]


def test_the_penguins_data_is_named_and_complete(logs: Path) -> None:
    """344 birds, ids penguin1..., the id not a feature; gaps kept, none without a species."""
    data = load_dataset(logs / CACHE_DIR / "penguins.csv", "species")
    assert data.named
    assert len(data.target) == 344
    assert data.dropped == 0
    assert data.ids is not None
    assert data.ids[:2].tolist() == ["penguin1", "penguin2"]
    assert data.feature_names == (
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
        "year",
    )
    assert data.target_labels is not None
    assert set(data.target_labels.tolist()) == SPECIES
    assert sum(value is None for value in data.columns["sex"]) == 11
    assert int(np.isnan(data.columns["bill_length_mm"]).sum()) == 2


def test_the_model_predicts_the_three_species(logs: Path) -> None:
    """The trained model takes the dataset's columns by name and gets > 90 % right."""
    example = resolve_example("penguins", logs / CACHE_DIR)
    assert example.model is not None
    model = load_model(example.model, skops_trusted=example.skops_trusted)
    data = load_dataset(example.dataset, example.target)
    check_model_columns(data, model.feature_names, model.n_features, model.name)
    assert model.task == "classification"
    assert set(model.classes or ()) == SPECIES
    prediction = model.predict_columns(data.columns)
    assert set(prediction.values.tolist()) == SPECIES
    assert data.target_labels is not None
    accuracy = float(np.mean(prediction.values == data.target_labels))
    assert accuracy > 0.9, accuracy


def test_apply_example_fills_only_what_was_not_given(
    logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dataset, target, task and model come from the example unless given; its skops types
    join the user's."""
    monkeypatch.setenv("MLMON_SKOPS_TRUSTED", "my.Type")
    settings = apply_example(load_settings(logs_dir=logs), "penguins")
    assert settings.dataset == logs / CACHE_DIR / "penguins.csv"
    assert (settings.target, settings.task) == ("species", "classification")
    assert settings.model_path == logs / CACHE_DIR / "penguins.skops"
    assert settings.skops_trusted.split(",")[0] == "my.Type"
    assert "TreePredictor" in settings.skops_trusted
    monkeypatch.setenv("MLMON_TASK", "regression")
    given = load_settings(logs_dir=logs, target="body_mass_g", model_path=Path("m.json"))
    mine = apply_example(given, "penguins")
    assert (mine.target, mine.task, mine.model_path) == (
        "body_mass_g",
        "regression",
        Path("m.json"),
    )
    assert mine.skops_trusted == "my.Type"
    assert mine.dataset == logs / CACHE_DIR / "penguins.csv"
    data_only = apply_example(load_settings(logs_dir=logs), "penguins", with_model=False)
    assert data_only.model_path is None


def test_an_unknown_example_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown example 'iris'; the examples are: penguins"):
        resolve_example("iris", tmp_path)
    assert not tmp_path.joinpath("iris.csv").exists()


def test_the_example_passes_up_s_dataset_check(
    logs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `mlmon up --example penguins` checks before it starts anything: the dataset and
    the model by name; choosing features the model lacks fails there, exit 2."""
    settings = apply_example(load_settings(logs_dir=logs), "penguins")
    trusted = settings.skops_trusted.split(",")
    model = load_model(settings.model_path, skops_trusted=trusted)
    _check_dataset(settings, [model])
    narrow = settings.model_copy(update={"exclude": "sex,year"})
    with pytest.raises(typer.Exit) as caught:
        _check_dataset(narrow, [model])
    assert caught.value.exit_code == 2
    assert "the dataset lacks sex, year" in capsys.readouterr().err
