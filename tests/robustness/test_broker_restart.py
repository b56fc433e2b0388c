"""A broker restart (stop_app, start_app) in the middle of a run loses nothing confirmed."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from mlmon.settings import Settings
from tests.robustness.harness import Service, publish_records, queue_consumers, wait_for_ids
from tests.robustness.jepsen import analyse

pytestmark = pytest.mark.robustness

RECORDS = 10_000


def rabbitmqctl(*args: str) -> None:
    command = shutil.which("rabbitmqctl") or "rabbitmqctl"
    subprocess.run([command, *args], check=True, capture_output=True, timeout=120)


@pytest.mark.timeout(300)
async def test_broker_restart_mid_run(rabbit_settings: Settings, tmp_path: Path) -> None:
    """Services reconnect, their consumers come back, publishing retries: 0 lost."""
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl is needed to restart the broker")
    settings = rabbit_settings
    assert settings.broker_url is not None
    services = [Service(name, settings, tmp_path) for name in ("model", "metric")]
    for service in services:
        service.start()
    ids = [f"restart-{n}" for n in range(RECORDS)]
    queues = [settings.queue_features, settings.queue_y_true, settings.queue_y_pred]
    try:
        producer = asyncio.create_task(publish_records(settings, ids, chunk=100))
        await asyncio.sleep(2)
        await asyncio.to_thread(rabbitmqctl, "stop_app")
        await asyncio.sleep(2)
        await asyncio.to_thread(rabbitmqctl, "start_app")
        await asyncio.to_thread(rabbitmqctl, "await_startup")
        await asyncio.wait_for(producer, 120)
        rows = await wait_for_ids(settings.logs_dir, set(ids), patience=90)
        consumers = queue_consumers(settings.broker_url, queues)
        alive = [s.name for s in services if s.alive]
    finally:
        for service in services:
            if service.alive:
                service.terminate()
    report = analyse(ids, ids, rows)
    print(report.table("broker stop_app/start_app mid-run"))
    assert consumers == dict.fromkeys(queues, 1)  # aio-pika #231: consumers came back
    assert alive == ["model", "metric"]  # reconnected, not crashed and restarted
    assert (report.lost, report.duplicated, report.unexpected) == (0, 0, 0)
