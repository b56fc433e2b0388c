"""Champion and challenger over RabbitMQ: both models see every record through the features
fan-out, every record is joined once per model, and the better model has the lower MAE on the
dashboard, in `mlmon report` and in Prometheus."""

from __future__ import annotations

import csv
import json
import signal
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import delete_queues
from tests.e2e.cli import free_port, good_and_bad_models, mlmon, mlmon_background

pytestmark = [pytest.mark.e2e, pytest.mark.rabbitmq]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (our own localhost)
        return str(response.read().decode())


def _until(probe: Any, patience: float = 40.0) -> Any:
    """The probe's first truthy answer, trying again while the services start."""
    deadline = time.monotonic() + patience
    while True:
        try:
            answer = probe()
            if answer:
                return answer
        except OSError:
            pass
        if time.monotonic() > deadline:
            msg = "gave up waiting"
            raise AssertionError(msg)
        time.sleep(0.5)


def _prometheus_all_time(text: str, name: str) -> dict[str, float]:
    return {
        sample.labels["model"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == name
        for sample in family.samples
        if sample.labels.get("window") == "all"
    }


def _prometheus_mae(text: str, least_rows: int = 300) -> dict[str, float] | None:
    """MAE per model once every model has `least_rows` rows: a few rows could rank either."""
    rows = _prometheus_all_time(text, "mlmon_window_records")
    if len(rows) < 2 or min(rows.values()) < least_rows:
        return None
    return _prometheus_all_time(text, "mlmon_window_mae")


def test_two_models_on_one_stream_compare_everywhere(
    broker_url: str, tmp_path: Path, queue_names: dict[str, str]
) -> None:
    good, bad = good_and_bad_models(tmp_path)
    logs = tmp_path / "logs"
    metrics_port, dashboard_port = free_port(), free_port()
    env = {f"MLMON_{key.upper()}": value for key, value in queue_names.items()}
    env["MLMON_METRICS_PORT"] = str(metrics_port)
    env["MLMON_DASHBOARD_PORT"] = str(dashboard_port)
    up = mlmon_background(
        "up",
        *("--broker", broker_url, "--model", str(good), "--model", str(bad)),
        *("--rate", "400", "--duration", "60", "--logs", str(logs)),
        env=env,
        log_path=tmp_path / "up.log",
    )
    # Children count ports up from MLMON_METRICS_PORT: features, good, bad, metric, plot.
    metric_port = metrics_port + 3
    try:
        scraped = _until(
            lambda: (
                (m := _prometheus_mae(_get(f"http://127.0.0.1:{metric_port}/metrics")))
                and len(m) == 2
                and m
            )
        )
        page = _until(
            lambda: (
                (s := json.loads(_get(f"http://127.0.0.1:{dashboard_port}/api/snapshot")))
                and len(s.get("models", [])) == 2
                and all(m["rows"] >= 300 for m in s["models"])
                and s
            )
        )
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
        delete_queues(broker_url, [*queue_names.values(), f"{queue_names['queue_features']}.bad"])
    assert up.returncode == 0, (tmp_path / "up.log").read_text()
    # The challenger's queue went with the run: left bound, it would fill up forever.
    assert "deleted challenger queue" in (tmp_path / "up.log").read_text()

    assert scraped["good"] < scraped["bad"]
    on_page = {m["model"]: m["mae"] for m in page["models"]}
    assert on_page["good"] < on_page["bad"]

    report = mlmon("report", "--json", "--from-log", "--logs", str(logs))
    assert report.returncode == 0, report.stderr
    figures = json.loads(report.stdout)["models"]
    assert figures["good"]["all"]["mae"] < figures["bad"]["all"]["mae"]

    # Every record the features service sent reached both models: one row per (id, model).
    with (logs / "metric_log.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    per_id = Counter(row["id"] for row in rows)
    assert len(per_id) >= 300
    assert set(per_id.values()) == {2}
    assert Counter(row["model"] for row in rows) == {"good": len(per_id), "bad": len(per_id)}
    for row in rows:
        error = abs(float(row["y_true"]) - float(row["y_pred"]))
        assert float(row["absolute_error"]) == error
