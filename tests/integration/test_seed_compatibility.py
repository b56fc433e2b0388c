"""The seeds' services and mlmon's replace each other one by one on shared plain queues."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pika

from mlmon.model.dataset import load_dataset
from mlmon.model.predictors import load_model
from mlmon.ops.status import ServiceStats
from mlmon.services.features import run_features
from mlmon.settings import Settings
from tests.conftest import SEED_MODEL
from tests.integration.pipeline import running, wait_for_rows


def seed_channel(url: str, settings: Settings) -> tuple[pika.BlockingConnection, object]:
    """A channel that declares the queues exactly as the seeds do."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for name in (settings.queue_features, settings.queue_y_true, settings.queue_y_pred):
        channel.queue_declare(queue=name)
    return connection, channel


async def test_seed_features_feed_mlmon_model_and_metric(rabbit_settings: Settings) -> None:
    """Messages published with plain pika and json.dumps, as the seeds do, are predicted
    by mlmon's model and joined by mlmon's metric."""
    settings = rabbit_settings.model_copy(update={"seed_compatible": True})
    assert settings.broker_url is not None
    connection, channel = seed_channel(settings.broker_url, settings)
    data = load_dataset()
    expected = {}
    for row in range(5):
        message_id = time.time() + row  # the seeds' timestamp id
        expected[message_id] = float(data.target[row])
        channel.basic_publish(
            exchange="",
            routing_key=settings.queue_y_true,  # type: ignore[attr-defined]
            body=json.dumps({"id": message_id, "body": data.target[row]}),
        )
        channel.basic_publish(
            exchange="",
            routing_key=settings.queue_features,  # type: ignore[attr-defined]
            body=json.dumps({"id": message_id, "body": list(data.features[row])}),
        )
    connection.close()
    async with running(settings):
        rows = await wait_for_rows(settings.logs_dir, 5)
    model = load_model(None)
    predictions = model.predict(data.features[:5])
    for row in rows:
        y_true, y_pred = float(row["y_true"]), float(row["y_pred"])
        assert float(row["absolute_error"]) == abs(y_true - y_pred)
        assert y_true in expected.values()
        assert min(abs(y_pred - p) for p in predictions) < 1e-9
    assert {float(row["id"]) for row in rows} == set(expected)


def seed_model_service(url: str, settings: Settings, stop: threading.Event) -> None:
    """The seeds' model.py, as they wrote it: pika, json, a pickled scikit-learn model."""
    import pickle

    with SEED_MODEL.open("rb") as handle:
        regressor = pickle.load(handle)  # noqa: S301 - the seeds' own file, loaded on purpose
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_declare(queue=settings.queue_features)
    channel.queue_declare(queue=settings.queue_y_pred)

    def callback(ch, method, properties, body):  # type: ignore[no-untyped-def]
        message = json.loads(body)
        import numpy as np

        prediction = regressor.predict(np.array(message["body"]).reshape(1, -1))
        ch.basic_publish(
            exchange="",
            routing_key=settings.queue_y_pred,
            body=json.dumps({"id": message["id"], "body": prediction[0]}),
        )

    channel.basic_consume(
        queue=settings.queue_features, on_message_callback=callback, auto_ack=True
    )
    while not stop.is_set():
        connection.process_data_events(time_limit=0.1)
    connection.close()


async def test_mlmon_features_feed_a_seed_model(rabbit_settings: Settings, tmp_path: Path) -> None:
    """mlmon's features service feeds the seeds' model; mlmon's metric joins the result."""
    import warnings

    settings = rabbit_settings.model_copy(update={"seed_compatible": True, "count": 20, "rate": 0})
    assert settings.broker_url is not None
    connection, _ = seed_channel(settings.broker_url, settings)
    connection.close()
    stop = threading.Event()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pickle's scikit-learn version warning
        seed = threading.Thread(
            target=seed_model_service, args=(settings.broker_url, settings, stop)
        )
        seed.start()
        try:
            async with running(settings, services=("metric",)):
                from mlmon.bus.rabbit import RabbitBus

                bus = RabbitBus(settings, "test-features")
                await bus.connect()
                sent = await run_features(settings, bus, ServiceStats("features"), asyncio.Event())
                await bus.close()
                rows = await wait_for_rows(settings.logs_dir, sent)
        finally:
            stop.set()
            await asyncio.to_thread(seed.join, 10)
    assert sent == 20
    assert len({row["id"] for row in rows}) == 20
    assert all(row["model"] == "unknown" for row in rows)  # the seeds do not name their model
    assert all(
        float(r["absolute_error"]) == abs(float(r["y_true"]) - float(r["y_pred"])) for r in rows
    )
