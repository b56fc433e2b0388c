"""The metric service estimates single-record predictions as they come (a regressor's from the
features they carry, a classifier's from their scores), counts the cells with the predictions,
and goes on joining when a batch cannot be estimated."""

from __future__ import annotations

import asyncio
import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlmon.bus import OutMessage
from mlmon.bus.memory import MemoryBus
from mlmon.join.counts import read_estimated, read_predicted
from mlmon.model.dataset import load_dataset
from mlmon.model.predictors import load_model
from mlmon.ops.status import ServiceStats
from mlmon.ops.telemetry import Telemetry
from mlmon.services.metric.service import MetricService
from mlmon.settings import Settings
from mlmon.wire.labels import known_labels
from tests.unit.ops.test_estimation import diabetes_reference


def yes_no_classifier(
    directory: Path, rows: int, seed: int
) -> tuple[Any, np.ndarray, np.ndarray, Path]:
    """A logistic regression of "yes"/"no" on two features, saved as model.skops, and its
    training rows as reference.csv (the estimator's reference)."""
    import pandas as pd
    import skops.io
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 2))
    labels = np.where(x[:, 0] + rng.normal(0, 0.5, rows) > 0, "yes", "no")
    model = LogisticRegression().fit(pd.DataFrame(x, columns=["a", "b"]), labels)
    skops.io.dump(model, directory / "model.skops")
    reference = directory / "reference.csv"
    with reference.open("w", newline="") as handle:
        pairs = zip(x.tolist(), labels.tolist(), strict=True)
        csv.writer(handle).writerows([["a", "b", "label"], *([*r, y] for r, y in pairs)])
    return model, x, labels, reference


async def _run(settings: Settings, predictions: list[dict], truths: list[dict]) -> ServiceStats:
    bus, stats = MemoryBus(), ServiceStats("metric")
    service = MetricService(settings, bus, stats, Telemetry([stats]))
    task = asyncio.create_task(service.run())
    for queue, records in ((settings.queue_y_pred, predictions), (settings.queue_y_true, truths)):
        await bus.publish(queue, [OutMessage(json.dumps(r).encode()) for r in records])
    for _ in range(300):
        if stats.counters["joined"] >= len(truths):
            break
        await asyncio.sleep(0.02)
    await bus.stop_consuming()
    await asyncio.wait_for(task, 10)
    return stats


async def _run_arrow(
    settings: Settings, bodies: tuple[bytes, bytes], headers: dict[str, str], rows: int
) -> ServiceStats:
    """The metric service over one Arrow message of true values and one of predictions,
    until `rows` are joined."""
    from mlmon.wire.arrow import ARROW

    bus, stats = MemoryBus(), ServiceStats("metric")
    task = asyncio.create_task(MetricService(settings, bus, stats, Telemetry([stats])).run())
    for queue, body in zip((settings.queue_y_true, settings.queue_y_pred), bodies, strict=True):
        await bus.publish(queue, [OutMessage(body, headers, ARROW)])
    for _ in range(300):
        if stats.counters["joined"] >= rows:
            break
        await asyncio.sleep(0.02)
    await bus.stop_consuming()
    await asyncio.wait_for(task, 10)
    return stats


async def test_single_regression_predictions_are_estimated_from_their_features(
    tmp_path: Path,
) -> None:
    reference = diabetes_reference(tmp_path / "reference.csv")
    settings = Settings(
        logs_dir=tmp_path / "logs", reference=reference, target="target", model_name="unknown"
    )
    data = load_dataset(None, "target", "id", (), ())
    predicted = load_model(None).predict(data.features)
    ts = time.time() // 300 * 300 - 3600
    predictions = [
        {"id": f"r{i}", "body": float(predicted[i]), "ts": ts + i % 300,
         "features": dict(zip(data.feature_names, data.features[i].tolist(), strict=True))}
        for i in range(100)
    ]  # fmt: skip
    predictions.append({"id": "plain", "body": 1.0, "ts": ts})  # no features: not estimated
    # Another model's: the estimator is fitted for one model only.
    predictions.append({"id": "other", "body": 1.0, "ts": ts, "model": "challenger",
                        "features": predictions[0]["features"]})  # fmt: skip
    truths = [{"id": f"r{i}", "body": float(data.target[i])} for i in range(0, 100, 2)]
    stats = await _run(settings, predictions, truths)
    assert stats.counters["estimated"] == 100
    assert stats.counters["not_estimated"] == 2  # the plain one, the challenger's
    estimated = read_estimated(settings.state_dir)
    assert list(estimated) == ["unknown"]
    (cells,) = estimated["unknown"].values()
    assert cells[0] == 100
    assert read_predicted(settings.state_dir) == {
        "unknown": {int(ts): 101},
        "challenger": {int(ts): 1},
    }
    window = stats.details["estimation"]["window"]["unknown"]
    assert window["est_mae"] == pytest.approx(cells[1] / 100)


async def test_single_classifier_predictions_are_estimated_from_their_scores(
    tmp_path: Path,
) -> None:
    import pandas as pd

    model, x, _, reference = yes_no_classifier(tmp_path, 600, seed=3)
    settings = Settings(
        logs_dir=tmp_path / "logs", reference=reference, target="label",
        model_path=tmp_path / "model.skops", model_name="unknown",
    )  # fmt: skip
    scores = model.predict_proba(pd.DataFrame(x[:40], columns=["a", "b"]))
    ts = time.time() // 300 * 300 - 3600
    predictions = [
        {"id": f"r{i}", "body": str(model.classes_[row.argmax()]), "ts": ts,
         "scores": dict(zip(model.classes_.tolist(), row.tolist(), strict=True))}
        for i, row in enumerate(scores)
    ]  # fmt: skip
    # Scores naming a class the reference never had: not estimated, still joined.
    predictions.append({"id": "odd", "body": "yes", "scores": {"yes": 0.5, "maybe": 0.5}, "ts": ts})
    truths = [{"id": p["id"], "body": "yes"} for p in predictions]
    stats = await _run(settings, predictions, truths)
    assert stats.counters["joined"] == 41
    assert stats.counters["estimated"] == 40
    assert stats.counters["not_estimated"] == 1
    assert "maybe" not in known_labels().values()  # a stranger's key is refused, not coded
    (cells,) = read_estimated(settings.state_dir)["unknown"].values()
    assert len(cells) == 5  # 1 + 2 x 2
    assert cells[0] == 40
    assert np.isclose(cells[1:].sum(), 40.0)  # each row's calibrated probabilities


async def test_arrow_batches_joined_whole_are_estimated_as_record_by_record(
    tmp_path: Path,
) -> None:
    """A classifier's Arrow batches named as mlmon's services name them (joined whole) get the
    same estimate cells, counted once with their predictions, as the same batches unnamed."""
    import pandas as pd

    from mlmon.wire import HEADER_BATCH
    from mlmon.wire.arrow import encode_values_arrow

    model, x, labels, reference = yes_no_classifier(tmp_path, 400, seed=5)
    scores = model.predict_proba(pd.DataFrame(x[:60], columns=["a", "b"]))
    ids = [f"r{i}" for i in range(60)]
    ts = np.full(60, time.time() // 300 * 300 - 3600)
    predicted = [str(model.classes_[row.argmax()]) for row in scores]
    bodies = (
        encode_values_arrow(ids, labels[:60].tolist(), ts=ts),
        encode_values_arrow(ids, predicted, ts=ts, scores=(scores, tuple(model.classes_)),
                            model="unknown"),
    )  # fmt: skip
    found = {}
    for named in (True, False):
        settings = Settings(
            logs_dir=tmp_path / f"logs-{named}", reference=reference, target="label",
            model_path=tmp_path / "model.skops", model_name="unknown", wire_format="batched",
        )  # fmt: skip
        headers = {HEADER_BATCH: ids[0]} if named else {}
        stats = await _run_arrow(settings, bodies, headers, 60)
        assert stats.counters["estimated"] == 60
        assert stats.counters["not_estimated"] == 0
        assert read_predicted(settings.state_dir) == {"unknown": {int(ts[0]): 60}}
        (cells,) = read_estimated(settings.state_dir)["unknown"].values()
        found[named] = cells
    assert found[True][0] == 60
    np.testing.assert_allclose(found[True], found[False])


async def test_a_named_batch_of_another_model_is_counted_not_estimated(tmp_path: Path) -> None:
    """The estimator is fitted for one model: a batch joined whole from another is joined and
    counted in `not_estimated`, its rows without estimate cells."""
    import pandas as pd

    from mlmon.wire import HEADER_BATCH
    from mlmon.wire.arrow import encode_values_arrow

    model, x, labels, reference = yes_no_classifier(tmp_path, 400, seed=6)
    scores = model.predict_proba(pd.DataFrame(x[:40], columns=["a", "b"]))
    ids = [f"r{i}" for i in range(40)]
    predicted = [str(model.classes_[row.argmax()]) for row in scores]
    settings = Settings(
        logs_dir=tmp_path / "logs", reference=reference, target="label",
        model_path=tmp_path / "model.skops", model_name="unknown", wire_format="batched",
    )  # fmt: skip
    bodies = (
        encode_values_arrow(ids, labels[:40].tolist()),
        encode_values_arrow(ids, predicted, scores=(scores, tuple(model.classes_)), model="other"),
    )
    stats = await _run_arrow(settings, bodies, {HEADER_BATCH: ids[0]}, 40)
    assert stats.counters["joined"] == 40
    assert stats.counters["estimated"] == 0
    assert stats.counters["not_estimated"] == 40
    assert "other" not in read_estimated(settings.state_dir)
