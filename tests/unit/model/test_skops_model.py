"""`.skops` models load without a trust flag: only the types skops trusts, plus those the
user names in MLMON_SKOPS_TRUSTED; anything else is refused, listed by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import validate_data

from mlmon.app.cli import _load_model
from mlmon.errors import ModelLoadError
from mlmon.model.estimator import EstimatorModel
from mlmon.model.predictors import load_model
from mlmon.settings import Settings
from tests.unit.model.conftest import user_pipeline

HGB_TYPES = ["numpy.dtype", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


class SumPlusMean(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """A team's own estimator: a type no skops default trusts."""

    def fit(self, x: Any, y: Any) -> SumPlusMean:
        validate_data(self, x)
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, x: Any) -> Any:
        return validate_data(self, x, reset=False).sum(axis=1) + self.mean_


def _dump(estimator: Any, path: Path) -> Path:
    import skops.io

    skops.io.dump(estimator, path)
    return path


def _skops(path: Path, trusted: list[str]) -> EstimatorModel:
    model = load_model(path, skops_trusted=trusted)
    assert isinstance(model, EstimatorModel)
    return model


def _nan_frame(table: dict[str, Any]) -> Any:
    """The table as pandas reads a CSV: a missing category is NaN."""
    frame = table["frame"].copy()
    frame["island"] = frame["island"].replace("", np.nan)
    return frame


def test_regressor_round_trip(table: dict[str, Any], tmp_path: Path) -> None:
    """A DataFrame pipeline saved by skops predicts mlmon's columns as scikit-learn does."""
    frame = _nan_frame(table)
    pipeline = user_pipeline(classifier=False, missing_category=np.nan).fit(frame, table["y"])
    model = _skops(_dump(pipeline, tmp_path / "r.skops"), HGB_TYPES)
    assert model.feature_names == ("length", "depth", "island")
    assert (model.n_features, model.task, model.classes) == (3, "regression", None)
    prediction = model.predict_columns(table["columns"])
    assert prediction.scores is None
    np.testing.assert_allclose(prediction.values, pipeline.predict(frame))


def test_classifier_round_trip(table: dict[str, Any], tmp_path: Path) -> None:
    frame = _nan_frame(table)
    pipeline = user_pipeline(classifier=True, missing_category=np.nan)
    pipeline.fit(frame, table["species"])
    model = _skops(_dump(pipeline, tmp_path / "c.skops"), HGB_TYPES)
    assert model.task == "classification"
    assert model.classes == ("Adelie", "Chinstrap", "Gentoo")
    prediction = model.predict_columns(table["columns"])
    assert list(prediction.values) == list(pipeline.predict(frame))
    assert prediction.scores is not None
    np.testing.assert_allclose(prediction.scores.sum(axis=1), 1.0)
    np.testing.assert_allclose(prediction.scores, pipeline.predict_proba(frame))


def test_float_rows_path_of_a_named_numeric_model(table: dict[str, Any], tmp_path: Path) -> None:
    """`predict(matrix)` still works for a model fitted on a numeric DataFrame: the rows are
    named by the model's feature names (no scikit-learn feature-name warning)."""
    from sklearn.linear_model import LinearRegression

    frame = table["frame"][["depth"]].assign(width=np.arange(len(table["y"]), dtype=float))
    fitted = LinearRegression().fit(frame, table["y"])
    model = _skops(_dump(fitted, tmp_path / "l.skops"), [])
    assert model.feature_names == ("depth", "width")
    np.testing.assert_allclose(model.predict(frame.to_numpy()), fitted.predict(frame))


def test_untrusted_type_is_listed_and_allowed_only_by_name(
    table: dict[str, Any], tmp_path: Path
) -> None:
    """The error names the type and the setting; the setting (through the CLI's loader)
    lets exactly that type in."""
    frame = table["frame"][["length", "depth"]].fillna(0.0)
    path = _dump(SumPlusMean().fit(frame, table["y"]), tmp_path / "own.skops")
    own = f"{__name__}.SumPlusMean"
    with pytest.raises(ModelLoadError) as refused:
        load_model(path)
    assert own in str(refused.value)
    assert f"MLMON_SKOPS_TRUSTED={own}" in str(refused.value)
    with pytest.raises(ModelLoadError, match="SumPlusMean"):
        load_model(path, skops_trusted=["sklearn.linear_model.LinearRegression"])

    model = _load_model(Settings(model_path=path, skops_trusted=f" {own} , numpy.dtype"))
    columns = {name: frame[name].to_numpy() for name in frame.columns}
    np.testing.assert_allclose(
        model.predict_columns(columns).values, frame.sum(axis=1) + np.mean(table["y"])
    )


def test_not_a_skops_file(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="not a valid skops file"):
        load_model(path)
