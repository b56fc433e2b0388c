"""`mlmon up --no-model`: a model mlmon does not run publishes its predictions itself."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pika

from tests.conftest import delete_queues
from tests.e2e.cli import mlmon, mlmon_background, mlmon_env


def _wait(condition: object, patience: float, what: str) -> None:
    deadline = time.monotonic() + patience
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_predictions_published_with_plain_amqp_are_monitored(
    broker_url: str, tmp_path: Path, queue_names: dict[str, str]
) -> None:
    """Another language's service needs only AMQP: once `up --no-model` has declared the
    queues, JSON published to y_pred and y_true by plain pika joins into the log."""
    logs = tmp_path / "logs"
    env = mlmon_env({f"MLMON_{key.upper()}": value for key, value in queue_names.items()})
    process = mlmon_background(
        "up", "--no-model", "--broker", broker_url, "--no-dashboard", "--logs", str(logs),
        env=env, log_path=tmp_path / "up.log",
    )  # fmt: skip
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        channel = connection.channel()
        deadline = time.monotonic() + 60
        while True:  # a passive declare checks the queue exists, never changes it
            try:
                channel.queue_declare(queue_names["queue_y_pred"], passive=True)
                break
            except pika.exceptions.ChannelClosedByBroker:
                assert time.monotonic() < deadline, "the metric service never declared y_pred"
                time.sleep(0.3)
                channel = connection.channel()  # the broker closed the last one
        channel.confirm_delivery()
        for i in range(20):
            spam = 0.7 if i % 2 else 0.2
            prediction = {"id": f"ext-{i}", "body": "spam" if i % 2 else "ham",
                          "scores": {"spam": spam, "ham": round(1 - spam, 6)},
                          "model": "filter", "version": "9", "tags": {"lang": "en"}}  # fmt: skip
            channel.basic_publish("", queue_names["queue_y_pred"], json.dumps(prediction))
            channel.basic_publish(
                "", queue_names["queue_y_true"], json.dumps({"id": f"ext-{i}", "body": "spam"})
            )
        metric_log = logs / "metric_log.csv"
        _wait(
            lambda: metric_log.exists() and len(metric_log.read_text().splitlines()) == 21,
            60,
            "20 rows",
        )
        up_log = tmp_path / "up.log"
        _wait(lambda: "ready: publish predictions" in up_log.read_text(), 60, "ready")
    finally:
        connection.close()
        process.send_signal(signal.SIGINT)
        process.wait(60)
        delete_queues(broker_url, queue_names.values())
    rows = metric_log.read_text().splitlines()[1:]
    assert all(",filter,9," in row for row in rows)
    errors = sorted(row.split(",")[3] for row in rows)
    assert errors == ["0.0"] * 10 + ["1.0"] * 10  # the hams are wrong: every label is spam
    assert process.returncode == 0, (tmp_path / "up.log").read_text()[-2000:]
    assert "joined" in (tmp_path / "up.log").read_text()


def test_no_model_needs_a_broker() -> None:
    result = mlmon("up", "--no-model")
    assert result.returncode != 0
    assert "--no-model monitors predictions your own service publishes: give --broker" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
