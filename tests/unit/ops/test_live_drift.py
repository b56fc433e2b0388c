"""LiveDrift's reference: a model whose own reference predictions are not finite leaves drift
off with a warning instead of stopping `mlmon up`; a named dataset gives drift on its
features (numbers and categories) and the classifier's top class probability."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from mlmon.model.frame import Prediction
from mlmon.model.predictors import LinearModel, load_model
from mlmon.model.training import train_pipeline
from mlmon.ops.drift import LiveDrift
from mlmon.settings import Settings


def test_an_infinite_reference_prediction_leaves_drift_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shipped = load_model(None)
    assert isinstance(shipped, LinearModel)
    broken = LinearModel("broken", "1", shipped.coef, np.inf)  # predicts +inf everywhere
    with caplog.at_level(logging.WARNING):
        assert LiveDrift.for_model(Settings(), broken) is None
    assert "drift is off" in caplog.text


def test_named_records_drift_on_their_features_and_top_probability(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data = tmp_path / "d.csv"
    lines = ["length,island,species"]
    for _ in range(300):
        length = rng.normal(45, 5)
        island = rng.choice(["Dream", "Biscoe"])
        lines.append(f"{length:.2f},{island},{'A' if length > 45 else 'B'}")
    data.write_text("\n".join(lines) + "\n")
    trained = train_pipeline(tmp_path / "m.skops", "skops", data, "species")
    model = load_model(trained.output, skops_trusted=trained.untrusted)
    settings = Settings(dataset=data, target="species", drift_window=200)
    drift = LiveDrift.for_model(settings, model)
    assert drift is not None
    assert drift.numeric == ("length",)
    shifted = {"length": rng.normal(60, 5, 300), "island": np.array(["Dream"] * 300, dtype=object)}
    drift.add_columns(shifted, model.predict_columns(shifted))
    report = drift.refresh()[0].to_dict()
    assert "length" in report["drifted_columns"]
    assert "island" in report["drifted_columns"]  # all Dream, where half the reference was
    assert set(report["columns"]) == {"length", "island", "prediction"}
    assert report["columns"]["island"]["kind"] == "categorical"


def test_a_reference_column_without_values_leaves_external_drift_off(tmp_path: Path) -> None:
    """The metric service's drift for a model it does not run: an all-empty numeric column in
    the reference is a warning, not a crash of every batch (which would loop on redelivery)."""
    data = tmp_path / "ref.csv"
    data.write_text("a,b,y\n1.0,,x\n2.0,,y\n")
    settings = Settings(reference=data, target="y")
    assert LiveDrift.for_reference(settings, "external") is None


def test_records_drift_cannot_read_are_counted_not_raised(tmp_path: Path) -> None:
    """A batch whose columns disagree in length is skipped with a warning, counted, and
    exported; the next good batch still counts."""
    from prometheus_client import CollectorRegistry, generate_latest

    data = tmp_path / "ref.csv"
    data.write_text("a,c,y\n" + "".join(f"{i},{'xy'[i % 2]},1\n" for i in range(50)))
    drift = LiveDrift.for_reference(Settings(reference=data, target="y"), "external")
    assert drift is not None
    drift.add_columns({"a": np.arange(3.0), "c": np.array(["x"] * 2, dtype=object)})
    drift.observe_columns({"a": np.arange(3.0)}, 5)
    drift.add_columns({"a": np.arange(2.0), "c": np.array(["x", None], dtype=object)})
    assert drift.skipped == 8
    assert drift.monitor.rows == 2
    registry = CollectorRegistry()
    registry.register(drift)
    drift.refresh()
    assert (
        'mlmon_drift_skipped_records_total{model="external"} 8.0'
        in generate_latest(registry).decode()
    )


def _numeric_classes(path: Path, rng: np.random.Generator) -> Path:
    """Two numeric features, a 0/1 class by the length: a stream of numeric vectors."""
    lines = ["length,depth,species"]
    for _ in range(400):
        length = rng.normal(45, 5)
        lines.append(f"{length:.2f},{rng.normal(17, 2):.2f},{int(length > 45)}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("model_format", ["onnx", "skops"])
def test_numeric_vectors_of_a_classifier_drift_on_their_features_and_top_probability(
    tmp_path: Path, model_format: str
) -> None:
    """The seeds' numeric batches to a classifier (what `mlmon up` sends for an all-numeric
    dataset): drift of the feature columns by name and of the top class probability."""
    rng = np.random.default_rng(3)
    data = _numeric_classes(tmp_path / "d.csv", rng)
    suffix = ".onnx" if model_format == "onnx" else ".skops"
    trained = train_pipeline(tmp_path / f"m{suffix}", model_format, data, "species")  # type: ignore[arg-type]
    model = load_model(trained.output, skops_trusted=trained.untrusted)
    assert model.task == "classification"
    drift = LiveDrift.for_model(Settings(dataset=data, target="species", drift_window=200), model)
    assert drift is not None
    vectors = np.column_stack([rng.normal(60, 5, 300), rng.normal(17, 2, 300)])
    for start in range(0, 300, 100):  # the service's calls: one per batch
        part = vectors[start : start + 100]
        drift.add(part, model.predict(part))
    report, quality = drift.refresh()
    figures = report.to_dict()
    assert figures["rows"] == 200
    assert set(figures["columns"]) == {"length", "depth", "prediction"}
    assert figures["drifted_columns"] == ["length", "prediction"]  # all class 1, surely
    assert figures["columns"]["prediction"]["rows"] == 200
    assert quality.to_dict()["rows"] == 200


class _Threshold:
    """A classifier of numeric labels without scores: prediction drift on its labels."""

    name, version, n_features, task = "threshold", "1", 2, "classification"
    feature_names = ("length", "depth")
    classes = (0, 1)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return (np.asarray(features)[:, 0] > 45).astype(np.float64)

    def predict_columns(self, columns: Mapping[str, np.ndarray]) -> Prediction:
        values = self.predict(np.column_stack([columns["length"], columns["depth"]]))
        return Prediction(values.astype(np.int64).astype(object))


def test_numeric_vectors_of_a_classifier_without_scores_drift_on_the_predicted_label(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(4)
    data = _numeric_classes(tmp_path / "d.csv", rng)
    model = _Threshold()
    drift = LiveDrift.for_model(Settings(dataset=data, target="species", drift_window=200), model)
    assert drift is not None
    vectors = np.column_stack([rng.normal(60, 5, 300), rng.normal(17, 2, 300)])
    drift.add(vectors, model.predict(vectors))
    figures = drift.refresh()[0].to_dict()
    assert figures["drifted_columns"] == ["length", "prediction"]
    assert figures["columns"]["prediction"]["rows"] == 200


def test_named_records_of_a_classifier_without_scores_drift_on_the_label_code(
    tmp_path: Path,
) -> None:
    """The same reference serves named records: their labels' codes, not records left out."""
    rng = np.random.default_rng(5)
    data = _numeric_classes(tmp_path / "d.csv", rng)
    model = _Threshold()
    drift = LiveDrift.for_model(Settings(dataset=data, target="species", drift_window=200), model)
    assert drift is not None
    columns = {"length": rng.normal(60, 5, 300), "depth": rng.normal(17, 2, 300)}
    drift.add_columns(columns, model.predict_columns(columns))
    figures = drift.refresh()[0].to_dict()
    assert figures["drifted_columns"] == ["length", "prediction"]
    assert figures["columns"]["prediction"]["rows"] == 200


def test_vectors_of_a_classifier_with_a_categorical_feature_are_left_out(tmp_path: Path) -> None:
    """Numbers cannot stand for a category: such vectors never reach drift's columns (an
    ONNX model refuses them; a skops pipeline answers them, its encoder unknowing)."""
    rng = np.random.default_rng(6)
    data = tmp_path / "d.csv"
    lines = ["length,island,species"]
    for i in range(300):
        length = rng.normal(45, 5)
        lines.append(f"{length:.2f},{'Dream' if i % 2 else 'Biscoe'},{int(length > 45)}")
    data.write_text("\n".join(lines) + "\n")
    trained = train_pipeline(tmp_path / "m.skops", "skops", data, "species")
    model = load_model(trained.output, skops_trusted=trained.untrusted)
    drift = LiveDrift.for_model(Settings(dataset=data, target="species", drift_window=200), model)
    assert drift is not None
    drift.add(np.zeros((10, 2)), np.zeros(10))
    assert drift.refresh()[0].rows == 0
