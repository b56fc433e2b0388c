"""A running metric service's /metrics agrees with the CSV it wrote."""

from __future__ import annotations

import asyncio
import csv
import json
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from mlmon.settings import Settings
from tests.e2e.cli import mlmon
from tests.robustness.harness import free_port, model_and_metric, publish_records, wait_for_ids


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        sample.name + str(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metric_service_exposes_what_it_wrote(rabbit_settings: Settings, tmp_path) -> None:
    """After 300 records, mlmon_joined_total and the error histogram's count and sum equal
    the CSV's row count and the sum of its absolute_error column, and the queue lag is 0."""
    port = free_port()
    settings = rabbit_settings
    services = model_and_metric(settings, tmp_path, metrics_port=port)
    ids = [f"prom-{n}" for n in range(300)]
    try:
        await publish_records(settings, ids, batch=50)
        await wait_for_ids(settings.logs_dir, set(ids), patience=30)
        queue = settings.queue_y_pred
        lag = f"mlmon_queue_messages_ready[('queue', '{queue}'), ('service', 'metric')]"
        for _ in range(50):  # the depth is sampled once per status interval
            found = await asyncio.to_thread(scrape, port)
            if found.get(lag) == 0:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # one more status interval: the live figures include every row
        report = await asyncio.to_thread(
            mlmon, "report", "--json", "--logs", str(settings.logs_dir)
        )
    finally:
        for service in services:
            service.terminate()
    with (settings.logs_dir / "metric_log.csv").open(newline="") as handle:
        errors = [float(row["absolute_error"]) for row in csv.DictReader(handle)]
    labels = "[('model', 'diabetes-linear'), ('model_version', '1')]"
    assert found["mlmon_joined_total[('service', 'metric')]"] == len(errors) == 300
    assert found["mlmon_absolute_error_count" + labels] == 300
    assert abs(found["mlmon_absolute_error_sum" + labels] - sum(errors)) < 1e-6
    assert found["mlmon_ready[('service', 'metric')]"] == 1
    assert found[lag] == 0  # caught up: nothing waiting in y_pred
    live = json.loads(report.stdout)
    assert live["source"] == "metric service (live)"  # not re-read from the log
    figures = live["models"]["diabetes-linear"]["all"]
    assert figures["count"] == 300
    assert abs(figures["mae"] - sum(errors) / len(errors)) < 1e-9
