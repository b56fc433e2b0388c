"""`mlmon train --estimator linear`: standardised numbers, one-hot categories and a logistic
(ridge) regression, in both safe formats, loaded as mlmon loads models and predicting well."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlmon.model.dataset import load_dataset
from mlmon.model.examples import resolve_example
from mlmon.model.predictors import load_model
from mlmon.model.training import train_pipeline


@pytest.fixture
def penguins_csv(tmp_path: Path) -> Path:
    """The Palmer penguins mlmon's example ships (categories, gaps, three species)."""
    return resolve_example("penguins", tmp_path, with_model=False).dataset


@pytest.mark.parametrize("model_format", ["onnx", "skops"])
def test_a_linear_classifier_of_a_categorical_dataset(
    penguins_csv: Path, tmp_path: Path, model_format: str
) -> None:
    output = tmp_path / f"model.{model_format}"
    trained = train_pipeline(
        output,
        model_format,
        penguins_csv,
        "species",
        estimator="linear",  # type: ignore[arg-type]
    )
    assert trained.task == "classification"
    assert trained.categorical
    predictor = load_model(output, skops_trusted=trained.untrusted)
    assert predictor.task == "classification"
    data = load_dataset(penguins_csv, "species")
    names = predictor.feature_names or tuple(data.columns)
    prediction = predictor.predict_columns({name: data.columns[name] for name in names})
    assert prediction.scores is not None
    assert np.allclose(prediction.scores.sum(axis=1), 1.0, atol=1e-4)
    truth = np.array(data.target_labels if data.target_labels is not None else data.target)
    accuracy = float(np.mean(np.asarray(prediction.values) == truth))
    assert accuracy > 0.9  # the penguins separate well on bills and flippers


def test_a_linear_regressor_of_diabetes(tmp_path: Path) -> None:
    output = tmp_path / "model.onnx"
    trained = train_pipeline(output, "onnx", estimator="linear")
    assert trained.task == "regression"
    predictor = load_model(output)
    data = load_dataset(None, "target")
    predicted = predictor.predict(data.features)
    r2 = 1 - np.sum((data.target - predicted) ** 2) / np.sum(
        (data.target - data.target.mean()) ** 2
    )
    assert r2 > 0.4  # ridge on diabetes: ~0.5
