"""`.onnx` models load without any trust flag and predict from named, typed columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlmon.errors import ModelLoadError
from mlmon.model.frame import ColumnsError
from mlmon.model.onnx_model import OnnxModel
from mlmon.model.predictors import load_model
from tests.unit.model.conftest import user_pipeline

# skl2onnx's converters warn under protobuf 6 (see mlmon.model.pipeline); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*Expected an int, got a boolean")


def _per_column_inputs() -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    return [
        ("length", FloatTensorType([None, 1])),
        ("depth", FloatTensorType([None, 1])),
        ("island", StringTensorType([None, 1])),
    ]


def _write(model: Any, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def _onnx(path: Path) -> OnnxModel:
    model = load_model(path)
    assert isinstance(model, OnnxModel)
    return model


def test_per_column_regressor_matches_its_sklearn_pipeline(
    table: dict[str, Any], tmp_path: Path
) -> None:
    """A DataFrame pipeline with string and float columns and missing values, converted by
    skl2onnx, predicts from mlmon's columns (None for a missing category) as scikit-learn does."""
    from skl2onnx import to_onnx

    pipeline = user_pipeline(classifier=False).fit(table["frame"], table["y"])
    path = _write(to_onnx(pipeline, initial_types=_per_column_inputs()), tmp_path / "m.onnx")
    model = _onnx(path)
    assert model.feature_names == ("length", "depth", "island")
    assert (model.n_features, model.task, model.classes) == (3, "regression", None)
    prediction = model.predict_columns(table["columns"])
    assert prediction.scores is None
    assert prediction.values.dtype == np.float64
    expected = pipeline.predict(table["frame"])
    np.testing.assert_allclose(prediction.values, expected, rtol=1e-4, atol=1e-3)
    with pytest.raises(ColumnsError, match="'island'"):
        model.predict_columns({k: v for k, v in table["columns"].items() if k != "island"})
    wrong = {**table["columns"], "length": table["columns"]["island"]}
    with pytest.raises(ColumnsError, match="'length' holds categories"):
        model.predict_columns(wrong)


@pytest.mark.parametrize("zipmap", [True, False])
def test_classifier_gives_labels_and_probabilities(
    table: dict[str, Any], tmp_path: Path, zipmap: bool
) -> None:
    """Either form of skl2onnx's probabilities (ZipMap's maps or one tensor) becomes a
    rows x classes array in the order of the model's classes, each row summing to 1."""
    from skl2onnx import to_onnx

    pipeline = user_pipeline(classifier=True).fit(table["frame"], table["species"])
    converted = to_onnx(
        pipeline, initial_types=_per_column_inputs(), options={id(pipeline): {"zipmap": zipmap}}
    )
    model = _onnx(_write(converted, tmp_path / "c.onnx"))
    assert model.task == "classification"
    assert model.classes == ("Adelie", "Chinstrap", "Gentoo")
    prediction = model.predict_columns(table["columns"])
    assert prediction.values.dtype == object
    assert list(prediction.values) == list(pipeline.predict(table["frame"]))
    assert prediction.scores is not None
    assert prediction.scores.shape == (len(table["species"]), 3)
    np.testing.assert_allclose(prediction.scores.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(prediction.scores, pipeline.predict_proba(table["frame"]), atol=1e-4)
    with pytest.raises(ColumnsError, match="class labels"):
        model.predict(np.zeros((1, 3)))


def test_single_tensor_model_predicts_rows_and_named_columns(
    table: dict[str, Any], tmp_path: Path
) -> None:
    """One float tensor [None, n]: n_features from its shape, names from the metadata when
    the exporter wrote them (else None, and columns are taken in the order given)."""
    import onnx
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import HistGradientBoostingRegressor

    matrix = np.column_stack([table["columns"]["length"], table["columns"]["depth"]])
    fitted = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(matrix, table["y"])
    converted = to_onnx(fitted, initial_types=[("input", FloatTensorType([None, 2]))])
    plain = _onnx(_write(converted, tmp_path / "plain.onnx"))
    assert (plain.n_features, plain.feature_names, plain.task) == (2, None, "regression")
    expected = fitted.predict(matrix)
    np.testing.assert_allclose(plain.predict(matrix), expected, rtol=1e-4, atol=1e-3)
    in_order = {"length": matrix[:, 0], "depth": matrix[:, 1]}
    np.testing.assert_allclose(plain.predict_columns(in_order).values, expected, atol=1e-3)
    with pytest.raises(ColumnsError, match="takes 2 features"):
        plain.predict(matrix[:, :1])

    onnx.helper.set_model_props(converted, {"feature_names": "length,depth"})
    named = _onnx(_write(converted, tmp_path / "named.onnx"))
    assert named.feature_names == ("length", "depth")
    reordered = {"depth": matrix[:, 1], "island": table["columns"]["island"], **in_order}
    np.testing.assert_allclose(named.predict_columns(reordered).values, expected, atol=1e-3)


def test_garbage_onnx_file_is_a_clear_load_error(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x00not a model")
    with pytest.raises(ModelLoadError, match="not a valid ONNX model"):
        load_model(path)
