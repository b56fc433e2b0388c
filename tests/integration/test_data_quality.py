"""Categorical drift and data quality through the real broker, both where features are seen:
mlmon's model service (named records it predicts, and the ones it refuses) and the metric
service (features carried by the predictions of a model mlmon does not run). A stream with
its island shifted, lengths missing, a few texts where numbers go and a feature the reference
lacks: the figures are exact, and reach Prometheus, the dashboard's snapshot and the report."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mlmon.bus import OutMessage
from mlmon.bus.rabbit import RabbitBus
from mlmon.dashboard.state import DashboardState
from mlmon.model.frame import Prediction
from mlmon.ops.drift import LiveDrift
from mlmon.ops.report_features import feature_lines
from mlmon.ops.status import ServiceStats
from mlmon.ops.telemetry import Telemetry
from mlmon.settings import Settings
from mlmon.wire import BATCH, encode_batch
from tests.integration.pipeline import running, wait_for_rows

ROWS = 300  # past the drift's min_rows (200)
REFERENCE_ISLANDS = ("Biscoe", "Dream", "Torgersen")


def _reference(path: Path) -> Path:
    rng = np.random.default_rng(11)
    lines = ["length,depth,island,species"]
    for i in range(600):
        length = rng.normal(45, 5)
        lines.append(
            f"{length:.2f},{rng.normal(17, 2):.2f},{REFERENCE_ISLANDS[i % 3]},"
            f"{'Gentoo' if length > 46 else 'Adelie'}"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def _bodies() -> list[dict[str, Any]]:
    """Every 5th length missing, two lengths as text, every 10th record with a 'beak', and
    the islands two-thirds Torgersen where the reference has a third."""
    rng = np.random.default_rng(12)
    bodies: list[dict[str, Any]] = []
    for i in range(ROWS):
        body: dict[str, Any] = {
            "length": None if i % 5 == 0 else round(float(rng.normal(45, 5)), 2),
            "depth": round(float(rng.normal(17, 2)), 2),
            "island": "Torgersen" if i % 3 else "Dream",
        }
        if i % 10 == 1:
            body["beak"] = 3.0
        bodies.append(body)
    bodies[2]["length"] = bodies[4]["length"] = "long"
    return bodies


def _metrics(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    """(metric, column) -> value of the per-column drift and data quality gauges."""
    found = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            if (
                sample.name.startswith(("mlmon_drift_", "mlmon_data_"))
                and "column" in sample.labels
            ):
                found[sample.name, sample.labels["column"]] = sample.value
    return found


def _check(details: dict[str, Any], metrics: dict[tuple[str, str], float], tmp_path: Path) -> None:
    """What both services must show for `_bodies()` (all of them seen by the data quality)."""
    drift, quality = details["drift"], details["data_quality"]
    assert "island" in drift["drifted_columns"], drift
    assert not {"length", "depth"} & set(drift["drifted_columns"])
    assert drift["columns"]["island"]["kind"] == "categorical"
    assert drift["columns"]["island"]["js_distance"] > 0.2
    assert quality["rows"] == ROWS
    length = quality["columns"]["length"]
    assert length["missing_rate"] == pytest.approx(60 / ROWS)
    assert length["type_mismatch_rate"] == pytest.approx(2 / ROWS)
    assert quality["columns"]["island"]["unseen_rate"] == 0.0
    assert quality["new_columns"] == {"beak": pytest.approx(30 / ROWS)}
    assert quality["schema_changes"] == ["+beak"]
    # Prometheus, the dashboard's snapshot and the report show the same figures.
    assert metrics["mlmon_data_missing_rate", "length"] == pytest.approx(60 / ROWS)
    assert metrics["mlmon_drift_detected", "island"] == 1.0
    assert metrics["mlmon_drift_js_distance", "island"] == pytest.approx(
        drift["columns"]["island"]["js_distance"]
    )
    stats = ServiceStats("model")
    stats.details.update(details)
    snapshot = DashboardState(tmp_path / "dash").refresh([stats.snapshot()])
    [shown] = snapshot["data_quality"]
    assert {c["name"]: c["missing_rate"] for c in shown["columns"]}["length"] == length[
        "missing_rate"
    ]
    assert "island" in {c["name"] for c in snapshot["drift"][0]["columns"] if c["drifted"]}
    lines = "\n".join(feature_lines({"drift": drift, "data_quality": quality}))
    assert "DRIFTED island" in lines
    assert "missing 20.0%" in lines
    assert "wrong type 0.7%" in lines
    assert "schema changes: +beak" in lines


class LengthRule:
    """A classifier by a rule on the length, cheap to run: the test is about the features."""

    name, version, n_features, task = "rule", "1", 3, "classification"
    feature_names = ("length", "depth", "island")
    classes = ("Adelie", "Gentoo")

    def predict(self, features: Any) -> Any:
        raise NotImplementedError  # named records only

    def predict_columns(self, columns: Any) -> Prediction:
        gentoo = np.nan_to_num(np.asarray(columns["length"], dtype=np.float64)) > 46
        scores = np.column_stack([np.where(gentoo, 0.2, 0.8), np.where(gentoo, 0.8, 0.2)])
        return Prediction(np.where(gentoo, "Gentoo", "Adelie").astype(object), scores)


async def test_the_model_service_shows_categorical_drift_and_data_quality(
    rabbit_settings: Settings, tmp_path: Path
) -> None:
    reference = _reference(tmp_path / "reference.csv")
    predictor = LengthRule()
    s = rabbit_settings.model_copy(update={"reference": reference, "target": "species"})
    drift = LiveDrift.for_model(s, predictor)
    assert drift is not None
    registry = CollectorRegistry()
    registry.register(drift)
    bodies = _bodies()
    features = [
        OutMessage(msgspec.json.encode({"id": f"q-{i}", "body": body}))
        for i, body in enumerate(bodies)
    ]
    bus = RabbitBus(s, "test-data-quality")
    await bus.connect()
    try:
        async with running(s, services=("model",), predictor=predictor, drift=drift) as stats:
            await bus.publish(s.queue_features, features)
            await _wait_for_predictions(stats["model"], ROWS - 2)  # two refused: text lengths
    finally:
        await bus.close()
    _check(stats["model"].details, _metrics(registry), tmp_path)


async def test_the_metric_service_shows_them_for_a_model_mlmon_does_not_run(
    rabbit_settings: Settings, tmp_path: Path
) -> None:
    reference = _reference(tmp_path / "reference.csv")
    s = rabbit_settings.model_copy(update={"reference": reference, "target": "species"})
    predictions = [
        OutMessage(msgspec.json.encode({"id": f"p-{i}", "body": "Adelie", "features": body}))
        for i, body in enumerate(_bodies())
    ]
    truths = [
        OutMessage(msgspec.json.encode({"id": f"p-{i}", "body": "Adelie"})) for i in range(ROWS)
    ]
    telemetry = Telemetry([])
    bus = RabbitBus(s, "test-data-quality")
    await bus.connect()
    try:
        async with running(s, services=("metric",), telemetry=telemetry) as stats:
            await bus.publish(s.queue_y_pred, predictions)
            await bus.publish(s.queue_y_true, truths)
            await wait_for_rows(s.logs_dir, ROWS)
    finally:
        await bus.close()
    _check(stats["metric"].details, _metrics(telemetry.registry), tmp_path)


class NumericLengthRule:
    """The length rule with classes 0 and 1, fed the seeds' numeric vectors."""

    name, version, n_features, task = "numeric-rule", "1", 2, "classification"
    feature_names = ("length", "depth")
    classes = (0, 1)

    def predict(self, features: Any) -> Any:
        return (np.asarray(features)[:, 0] > 46).astype(np.float64)

    def predict_columns(self, columns: Any) -> Prediction:
        # Surer the further the length is from 46: a shifted stream's top probability shifts.
        p = 1 / (1 + np.exp(46 - np.asarray(columns["length"], dtype=np.float64)))
        return Prediction((p > 0.5).astype(np.int64).astype(object), np.column_stack([1 - p, p]))


async def test_the_model_service_shows_drift_of_a_classifier_fed_numeric_batches(
    rabbit_settings: Settings, tmp_path: Path
) -> None:
    """mlmon's numeric batches (all-numeric features, numeric classes) to a classifier: drift
    of its features by name and of its top class probability, in the status and Prometheus."""
    rng = np.random.default_rng(13)
    reference = tmp_path / "reference.csv"
    lines = ["length,depth,species"]
    for _ in range(600):
        length = rng.normal(45, 5)
        lines.append(f"{length:.2f},{rng.normal(17, 2):.2f},{int(length > 46)}")
    reference.write_text("\n".join(lines) + "\n")
    predictor = NumericLengthRule()
    s = rabbit_settings.model_copy(update={"reference": reference, "target": "species"})
    drift = LiveDrift.for_model(s, predictor)
    assert drift is not None
    registry = CollectorRegistry()
    registry.register(drift)
    vectors = np.column_stack([rng.normal(60, 5, ROWS), rng.normal(17, 2, ROWS)])
    batches = [
        OutMessage(
            encode_batch(
                [f"n-{i}" for i in range(start, start + 100)],
                vectors[start : start + 100],
                np.zeros(100),
            ),
            {},
            BATCH,
        )
        for start in range(0, ROWS, 100)
    ]
    bus = RabbitBus(s, "test-numeric-drift")
    await bus.connect()
    try:
        async with running(s, services=("model",), predictor=predictor, drift=drift) as stats:
            await bus.publish(s.queue_features, batches)
            await _wait_for_predictions(stats["model"], ROWS)
    finally:
        await bus.close()
    report, quality = stats["model"].details["drift"], stats["model"].details["data_quality"]
    assert report["drifted_columns"] == ["length", "prediction"], report
    assert report["columns"]["prediction"]["rows"] == ROWS
    assert quality["rows"] == ROWS
    assert stats["model"].gauges["drifted_columns"] == 2
    metrics = _metrics(registry)
    assert metrics["mlmon_drift_detected", "length"] == 1.0
    assert metrics["mlmon_drift_detected", "depth"] == 0.0
    assert metrics["mlmon_drift_detected", "prediction"] == 1.0


async def _wait_for_predictions(stats: ServiceStats, count: int, patience: float = 20) -> None:
    deadline = time.monotonic() + patience
    while stats.counters["predicted"] < count:
        if time.monotonic() > deadline:
            pytest.fail(f"the model predicted {stats.counters['predicted']} records, not {count}")
        await asyncio.sleep(0.05)
