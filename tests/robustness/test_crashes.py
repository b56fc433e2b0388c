"""SIGKILL the model and metric services at random moments: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from mlmon.settings import Settings
from tests.robustness.harness import Service, publish_records, queue_depths, wait_for_ids
from tests.robustness.jepsen import analyse

pytestmark = pytest.mark.robustness

RECORDS = 20_000
KILLS_EACH = 5


@pytest.mark.timeout(300)
@pytest.mark.parametrize("batch", [0, 100], ids=["single", "batched"])
async def test_sigkill_model_and_metric_repeatedly(
    rabbit_settings: Settings, tmp_path: Path, batch: int
) -> None:
    """20,000 confirmed records, one per message or batched; model and metric each
    SIGKILLed 5+ times and restarted: lost = 0, duplicated = 0."""
    settings = rabbit_settings
    assert settings.broker_url is not None
    services = {name: Service(name, settings, tmp_path) for name in ("model", "metric")}
    for service in services.values():
        service.start()
    ids = [f"crash-{n}" for n in range(RECORDS)]
    producer = asyncio.create_task(publish_records(settings, ids, batch=batch))
    rng = random.Random(20261124)
    kills = {"model": 0, "metric": 0}
    try:
        while min(kills.values()) < KILLS_EACH or not producer.done():
            await asyncio.sleep(rng.uniform(0.3, 1.5))
            victim = services[rng.choice(["model", "metric"])]
            victim.kill()
            kills[victim.name] += 1
            victim.start()
        await producer
        rows = await wait_for_ids(settings.logs_dir, set(ids), patience=120)
        dead = sum(
            queue_depths(
                settings.broker_url,
                [
                    settings.queue_features + ".dead",
                    settings.queue_y_true + ".dead",
                    settings.queue_y_pred + ".dead",
                ],
            ).values()
        )
    finally:
        for service in services.values():
            if service.alive:
                service.terminate()
    report = analyse(ids, ids, rows, dead)
    form = f"batches of {batch}" if batch else "single-record messages"
    print(report.table(f"{form}: SIGKILL x{kills['model']} model, x{kills['metric']} metric"))
    assert kills["model"] >= KILLS_EACH
    assert kills["metric"] >= KILLS_EACH
    assert report.lost == 0
    assert report.duplicated == 0
    assert report.unexpected == 0
    assert report.dead_lettered == 0
