"""Records of a model mlmon does not run, through the real broker to the metric log: class
labels, scores, tags, event time and model fields, and their bad forms dead-lettered."""

from __future__ import annotations

import json
import time
from pathlib import Path

import msgspec
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.metrics import log_loss, roc_auc_score

from mlmon.bus import OutMessage
from mlmon.bus.rabbit import RabbitBus
from mlmon.metric_log.layout import METRIC_COLUMNS
from mlmon.ops.telemetry import Telemetry
from mlmon.settings import Settings
from tests.integration.pipeline import running, wait_for_rows
from tests.integration.test_bad_input import drain

pytestmark = pytest.mark.rabbitmq

SPECIES = ("Adelie", "Chinstrap", "Gentoo")


def _json(message: dict[str, object]) -> OutMessage:
    return OutMessage(msgspec.json.encode(message))


async def test_labels_scores_tags_and_ts_reach_the_log(rabbit_settings: Settings) -> None:
    """An external classifier's predictions (label, scores, tags, ts, model and version as
    fields) meet labels sent as text, in either order; the log holds the texts, 0/1 errors,
    the event time, and the scores and tags as JSON. Bad records are dead-lettered with their
    reason, the good ones around them joined."""
    s = rabbit_settings
    ts = time.time() - 3600.0
    predictions, truths = [], []
    for i in range(30):
        scores = dict.fromkeys(SPECIES, 0.1)
        predicted = SPECIES[i % 3]
        scores[predicted] = 0.8
        predictions.append(
            _json(
                {
                    "id": f"p-{i}",
                    "body": predicted,
                    "scores": scores,
                    "ts": ts + i,
                    "tags": {"region": "eu" if i % 2 else "us"},
                    "model": "penguins-hgb",
                    "version": "3",
                }
            )
        )
        truths.append(_json({"id": f"p-{i}", "body": SPECIES[(i + (i % 5 == 0)) % 3]}))
    bad_predictions = [
        _json({"id": "b-1", "body": "Adelie", "scores": {"Adelie": 0.5, "Gentoo": 0.2}}),
        _json({"id": "b-2", "body": "Adelie", "scores": {"Adelie": 1.2, "Gentoo": -0.2}}),
        _json({"id": "b-3", "body": "Adelie", "ts": (time.time() + 86400) * 1000}),
        _json({"id": "b-4", "body": "Adelie", "tags": {f"t{i}": "x" for i in range(40)}}),
        _json({"id": "b-5", "body": "Adelie", "ts": "yesterday"}),
    ]
    bus = RabbitBus(s, "test-rich")
    await bus.connect()
    telemetry = Telemetry([])
    try:
        async with running(s, services=("metric",), telemetry=telemetry):
            await bus.publish(s.queue_y_true, truths[:15])  # labels first for half of them
            await bus.publish(s.queue_y_pred, predictions + bad_predictions)
            await bus.publish(s.queue_y_true, truths[15:])
            rows = await wait_for_rows(s.logs_dir, 30)
            dead = await drain(bus, s.queue_y_pred + ".dead", len(bad_predictions))
            scraped = generate_latest(telemetry.registry).decode()  # what /metrics serves
    finally:
        await bus.close()
    header = (s.logs_dir / "metric_log.csv").read_text().splitlines()[0]
    assert header == ",".join(METRIC_COLUMNS)
    by_id = {row["id"]: row for row in rows}
    assert len(by_id) == 30
    for i in range(30):
        row = by_id[f"p-{i}"]
        truth = SPECIES[(i + (i % 5 == 0)) % 3]
        assert (row["y_true"], row["y_pred"]) == (truth, SPECIES[i % 3])
        assert float(row["absolute_error"]) == float(truth != SPECIES[i % 3])
        assert (row["model"], row["model_version"]) == ("penguins-hgb", "3")
        assert float(row["sent_at"]) == ts + i  # the event time, not the publish time
        assert json.loads(row["scores"])[SPECIES[i % 3]] == 0.8
        assert json.loads(row["tags"]) == {"region": "eu" if i % 2 else "us"}
    # The live windows' score figures, as scikit-learn computes them on the 30 rows.
    window = {
        sample.name: sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
        if sample.labels.get("model") == "penguins-hgb"
        and sample.labels.get("window") == f"last_{s.quality_window}"
    }
    truth = [SPECIES[(i + (i % 5 == 0)) % 3] for i in range(30)]
    probabilities = [[0.8 if c == SPECIES[i % 3] else 0.1 for c in SPECIES] for i in range(30)]
    assert window["mlmon_window_records"] == 30
    assert window["mlmon_window_log_loss"] == pytest.approx(log_loss(truth, probabilities))
    assert window["mlmon_window_roc_auc"] == pytest.approx(
        roc_auc_score(truth, probabilities, multi_class="ovr", average="macro")
    )
    assert {"mlmon_window_brier", "mlmon_window_ece"} <= set(window)
    reasons = sorted(reason for _, reason in dead)
    assert any("scores sum to 0.7" in r for r in reasons), reasons
    assert any("score of class 'Adelie' is 1.2, not a probability" in r for r in reasons)
    assert any("in the future (milliseconds?" in r for r in reasons)
    assert any("40 tags, more than 16" in r for r in reasons)
    assert any("$.ts" in r for r in reasons)


async def test_seed_records_are_written_as_before(rabbit_settings: Settings) -> None:
    """The seeds' plain JSON still joins to numeric rows with empty scores and tags."""
    s = rabbit_settings
    bus = RabbitBus(s, "test-plain")
    await bus.connect()
    try:
        async with running(s, services=("metric",)):
            await bus.publish(s.queue_y_true, [_json({"id": 7, "body": 151.0})])
            await bus.publish(s.queue_y_pred, [_json({"id": 7, "body": [140.5]})])
            rows = await wait_for_rows(s.logs_dir, 1)
    finally:
        await bus.close()
    assert rows[0]["y_true"] == "151.0"
    assert rows[0]["absolute_error"] == "10.5"
    assert rows[0]["scores"] == rows[0]["tags"] == ""


async def test_arrow_batches_join_and_bad_rows_go_alone(rabbit_settings: Settings) -> None:
    """Predictions and labels batched as Arrow IPC (as a service in another language writes
    them) join row by row; a row with bad scores is dead-lettered alone, as single JSON."""
    import numpy as np

    from mlmon.wire.arrow import ARROW, encode_values_arrow

    s = rabbit_settings
    ids = [f"a-{i}" for i in range(100)]
    predicted = [SPECIES[i % 3] for i in range(100)]
    scores = np.full((100, 3), 0.1)
    scores[np.arange(100), np.arange(100) % 3] = 0.8
    scores[7] = [0.9, 0.9, 0.9]  # not probabilities
    tags = [{"region": "eu"} for _ in ids]
    body = encode_values_arrow(
        ids, predicted, ts=np.full(100, 1.7e9), tags=tags, scores=(scores, SPECIES),
        model="arrow-model", version="2",
    )  # fmt: skip
    truths = encode_values_arrow(ids, ["Adelie"] * 100)
    bus = RabbitBus(s, "test-arrow")
    await bus.connect()
    try:
        async with running(s, services=("metric",)):
            await bus.publish(s.queue_y_pred, [OutMessage(body, {}, ARROW)])
            await bus.publish(s.queue_y_true, [OutMessage(truths, {}, ARROW)])
            rows = await wait_for_rows(s.logs_dir, 99)
            dead = await drain(bus, s.queue_y_pred + ".dead", 1)
    finally:
        await bus.close()
    assert sorted(row["id"] for row in rows) == sorted(set(ids) - {"a-7"})
    for row in rows:
        i = int(row["id"][2:])
        assert (row["y_true"], row["y_pred"]) == ("Adelie", SPECIES[i % 3])
        assert (row["model"], row["model_version"], row["sent_at"]) == (
            "arrow-model",
            "2",
            "1700000000.0",
        )
        assert json.loads(row["tags"]) == {"region": "eu"}
    ((dead_body, reason),) = dead
    assert "record 'a-7'" in reason
    assert "not 1" in reason or "not a probability" in reason
    assert json.loads(dead_body)["id"] == "a-7"  # the row alone, readable


async def test_a_label_of_a_class_never_predicted_is_joined_and_counted(
    rabbit_settings: Settings,
) -> None:
    s = rabbit_settings
    bus = RabbitBus(s, "test-unpredicted")
    await bus.connect()
    try:
        async with running(s, services=("metric",)) as stats:
            await bus.publish(
                s.queue_y_pred,
                [_json({"id": i, "body": "Adelie", "scores": {"Adelie": 1.0}}) for i in range(3)],
            )
            await bus.publish(
                s.queue_y_true,
                [_json({"id": 0, "body": "Adelie"}), _json({"id": 1, "body": "Emperor"}),
                 _json({"id": 2, "body": "Emperor"})],
            )  # fmt: skip
            rows = await wait_for_rows(s.logs_dir, 3)
    finally:
        await bus.close()
    assert sorted(row["y_true"] for row in rows) == ["Adelie", "Emperor", "Emperor"]
    assert stats["metric"].counters["labels_of_unpredicted_classes"] == 2


async def test_features_carried_by_predictions_feed_drift(
    rabbit_settings: Settings, tmp_path: Path
) -> None:
    """A model mlmon does not run sends the features it used with each prediction: the
    metric service computes drift on them against MLMON_REFERENCE, and a shifted numeric
    feature is flagged while an unshifted one is not."""
    import numpy as np

    from mlmon.wire.arrow import ARROW, encode_values_arrow

    rng = np.random.default_rng(5)
    reference = tmp_path / "reference.csv"
    lines = ["length,depth,island,species"]
    for _ in range(2000):
        lines.append(f"{rng.normal(45, 5):.3f},{rng.normal(17, 2):.3f},Dream,Adelie")
    reference.write_text("\n".join(lines) + "\n")
    s = rabbit_settings.model_copy(update={"reference": reference, "target": "species"})
    n = 1500
    ids = [f"d-{i}" for i in range(n)]
    singles = [
        _json({"id": ids[i], "body": "Adelie",
               "features": {"length": float(rng.normal(60, 5)), "depth": float(rng.normal(17, 2)),
                            "island": "Dream"}})
        for i in range(500)
    ]  # fmt: skip
    features = {
        "length": rng.normal(60, 5, n - 500),
        "depth": rng.normal(17, 2, n - 500),
        "island": np.array(["Dream"] * (n - 500), dtype=object),
    }
    batch = encode_values_arrow(ids[500:], ["Adelie"] * (n - 500), features=features)
    bus = RabbitBus(s, "test-drift")
    await bus.connect()
    try:
        async with running(s, services=("metric",)) as stats:
            await bus.publish(s.queue_y_pred, [*singles, OutMessage(batch, {}, ARROW)])
            await bus.publish(
                s.queue_y_true, [OutMessage(encode_values_arrow(ids, ["Adelie"] * n), {}, ARROW)]
            )
            await wait_for_rows(s.logs_dir, n)
    finally:
        await bus.close()
    report = stats["metric"].details["drift"]
    assert report["drifted_columns"] == ["length"], report
    assert set(report["columns"]) == {"length", "depth", "island"}  # island: one category
