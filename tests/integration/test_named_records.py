"""Named records through mlmon's model service and the real broker: a scikit-learn pipeline
(imputation, one-hot, gradient boosting) saved as .skops and as .onnx takes categorical and
missing features by name; its class labels and scores reach the log; records it cannot take
are dead-lettered with the reason."""

from __future__ import annotations

import json

import msgspec
import numpy as np
import pytest

from mlmon.bus import OutMessage
from mlmon.bus.rabbit import RabbitBus
from mlmon.model.predictors import load_model
from mlmon.model.training import Trained, train_pipeline
from mlmon.settings import Settings
from tests.integration.pipeline import running, wait_for_rows
from tests.integration.test_bad_input import drain

ROWS = 60


def _frame(rows: int) -> tuple[list[dict[str, object]], list[str]]:
    rng = np.random.default_rng(3)
    bodies, species = [], []
    for i in range(rows):
        island = ["Biscoe", "Dream", "Torgersen"][i % 3]
        length = float(rng.normal(45, 5))
        kind = "Gentoo" if length > 47 else ("Chinstrap" if island == "Dream" else "Adelie")
        bodies.append(
            {"length": None if i % 9 == 0 else round(length, 2), "depth": float(rng.normal(17, 2)),
             "island": None if i % 11 == 0 else island}
        )  # fmt: skip
        species.append(kind)
    return bodies, species


@pytest.fixture(scope="module", params=["skops", "onnx"])
def classifier(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    folder = tmp_path_factory.mktemp("model")
    bodies, species = _frame(400)
    data = folder / "penguins.csv"
    lines = ["length,depth,island,species"]
    for body, kind in zip(bodies, species, strict=True):
        cells = ["" if body[k] is None else str(body[k]) for k in ("length", "depth", "island")]
        lines.append(",".join([*cells, kind]))
    data.write_text("\n".join(lines) + "\n")
    fmt = request.param
    return train_pipeline(folder / f"penguins.{fmt}", fmt, data, "species")


async def test_a_classifier_on_named_records(
    rabbit_settings: Settings, classifier: Trained
) -> None:
    s = rabbit_settings
    # The types a scikit-learn pipeline's .skops file holds beyond skops' defaults, by name.
    predictor = load_model(classifier.output, skops_trusted=classifier.untrusted)
    assert predictor.task == "classification"
    bodies, species = _frame(ROWS)
    features = [
        OutMessage(msgspec.json.encode({"id": f"r-{i}", "body": body, "tags": {"i": str(i % 2)}}))
        for i, body in enumerate(bodies)
    ]
    truths = [
        OutMessage(msgspec.json.encode({"id": f"r-{i}", "body": kind}))
        for i, kind in enumerate(species)
    ]
    bad = [
        OutMessage(b'{"id": "no-island", "body": {"length": 40.0, "depth": 17.0}}'),
        OutMessage(
            b'{"id": "text-length", "body": {"length": "long", "depth": 1, "island": "Dream"}}'
        ),
    ]
    bus = RabbitBus(s, "test-named")
    await bus.connect()
    try:
        async with running(s, predictor=predictor):
            await bus.publish(s.queue_features, features[:30])  # the model learns the kinds
            await wait_for_rows(s.logs_dir, 0)
            await bus.publish(s.queue_features, features[30:] + bad)
            await bus.publish(s.queue_y_true, truths)
            rows = await wait_for_rows(s.logs_dir, ROWS)
            dead = await drain(bus, s.queue_features + ".dead", 2)
    finally:
        await bus.close()
    assert len(rows) == ROWS
    correct = 0
    for row in rows:
        i = int(row["id"].split("-")[1])
        assert row["y_true"] == species[i]
        assert row["y_pred"] in {"Adelie", "Chinstrap", "Gentoo"}
        scores = json.loads(row["scores"])
        assert set(scores) == {"Adelie", "Chinstrap", "Gentoo"}
        assert abs(sum(scores.values()) - 1) < 1e-3
        assert max(scores, key=scores.__getitem__) == row["y_pred"]
        assert json.loads(row["tags"]) == {"i": str(i % 2)}
        assert float(row["absolute_error"]) == float(row["y_true"] != row["y_pred"])
        correct += row["y_true"] == row["y_pred"]
    assert correct / ROWS > 0.8  # a real classifier, not a constant
    reasons = " | ".join(reason for _, reason in dead)
    assert "record 'no-island': lacks feature(s) 'island' the model takes" in reasons
    assert "record 'text-length': feature 'length' is 'long'; the model takes numbers" in reasons
