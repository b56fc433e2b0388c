"""Model loading: safe JSON by default, pickles only with consent, clear errors otherwise."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from mlmon.errors import ModelLoadError, UnsafeModelError
from mlmon.model.dataset import load_dataset
from mlmon.model.predictors import default_model_path, load_model, width_problem
from mlmon.model.training import train_linear
from tests.conftest import SEED_MODEL


def test_shipped_default_predicts_diabetes() -> None:
    """The packaged JSON model loads without consent and predicts diabetes sensibly."""
    model = load_model(None)
    data = load_dataset()
    predictions = model.predict(data.features)
    assert model.n_features == 10
    assert np.abs(predictions - data.target).mean() < 50  # a real fit, not a constant


def test_seed_pickle_needs_consent() -> None:
    """The seeds' myfile.pkl is refused without --trust-pickle, and the error says why."""
    with pytest.raises(UnsafeModelError, match=r"runs any code.*--trust-pickle"):
        load_model(SEED_MODEL)


def test_seed_pickle_loads_with_consent_and_matches_our_model() -> None:
    """With consent the seeds' scikit-learn 1.0.2 pickle predicts close to the shipped model."""
    seed = load_model(SEED_MODEL, trust_pickle=True)
    ours = load_model(None)
    features = load_dataset().features[:20]
    assert seed.n_features == 10
    np.testing.assert_allclose(seed.predict(features), ours.predict(features), atol=0.01)


def test_missing_and_unknown_files_are_named(tmp_path: Path) -> None:
    """A missing file or an unknown format is a ModelLoadError naming the file."""
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "nope.json")
    odd = tmp_path / "model.h5"
    odd.write_bytes(b"\x00")
    with pytest.raises(ModelLoadError, match="unknown format"):
        load_model(odd)
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "mlmon-linear/1", "coef": "x"}')
    with pytest.raises(ModelLoadError, match="not a valid mlmon linear model"):
        load_model(broken)


def test_train_writes_a_loadable_model(tmp_path: Path) -> None:
    """`mlmon train` output loads back and reproduces the shipped default."""
    trained = train_linear(tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.json")
    np.testing.assert_allclose(
        loaded.predict(np.eye(10)), load_model(default_model_path()).predict(np.eye(10))
    )
    assert trained.n_features == loaded.n_features == 10


def test_wrong_length_vector_is_a_record_error() -> None:
    """A vector of the wrong length names the record (or how many) and both lengths."""
    problem = width_problem(["r1"], 3, 10)
    assert problem is not None
    assert re.search(r"record 'r1': vector has 3 features, .* takes 10", problem)
    assert (
        width_problem(["a", "b"], 3, 10) == "2 records: vector has 3 features, the model takes 10"
    )
    assert width_problem(["r1"], 10, 10) is None


def test_untrusted_pickle_error_gives_the_real_options() -> None:
    """The refusal names --trust-pickle and the linear JSON export, and no longer sends the
    user to `mlmon train`, which fits a new model and converts nothing."""
    with pytest.raises(UnsafeModelError) as caught:
        load_model(SEED_MODEL)
    message = str(caught.value)
    assert "--trust-pickle" in message
    assert "mlmon-linear/1" in message
    assert ".onnx" in message
    assert ".skops" in message
    assert "mlmon train" not in message


def test_a_model_directory_is_called_a_directory(tmp_path: Path) -> None:
    """An MLflow-style model directory is reported as a directory, with the file to pass."""
    directory = tmp_path / "mlflow_model"
    directory.mkdir()
    with pytest.raises(ModelLoadError, match="is a directory") as caught:
        load_model(directory)
    assert "does not exist" not in str(caught.value)
    assert "the file inside it" in str(caught.value)


def test_xgboost_json_is_not_read_as_a_linear_model(tmp_path: Path) -> None:
    """XGBoost's native JSON (or any JSON without mlmon's format key) is refused by name,
    with what to do instead."""
    xgboost = tmp_path / "booster.json"
    xgboost.write_text('{"learner": {"gradient_booster": {}}, "version": [2, 1, 0]}')
    with pytest.raises(ModelLoadError, match=r"is an XGBoost model .* ONNX \(\.onnx\)"):
        load_model(xgboost)
    other = tmp_path / "other.json"
    other.write_text('{"coef": [1.0, 2.0], "intercept": 0}')
    with pytest.raises(ModelLoadError, match=r"without a \"format\" key.*mlmon-linear/1"):
        load_model(other)


def test_linear_model_predicts_named_columns() -> None:
    """The shipped model knows its feature names and takes them in any order; it says it is a
    regressor."""
    model = load_model(None)
    data = load_dataset()
    assert model.feature_names == data.feature_names
    assert (model.task, model.classes) == ("regression", None)
    columns = {
        name: data.features[:, i] for i, name in reversed(list(enumerate(model.feature_names)))
    }
    prediction = model.predict_columns(columns)
    np.testing.assert_allclose(prediction.values, model.predict(data.features))
    assert prediction.scores is None
