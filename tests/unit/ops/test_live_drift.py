"""LiveDrift's reference: a model whose own reference predictions are not finite leaves drift
off with a warning instead of stopping `mlmon up`; a named dataset gives drift on its
features (numbers and categories) and the classifier's top class probability."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

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
