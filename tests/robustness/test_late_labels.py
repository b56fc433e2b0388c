"""True values delayed 0-30 s and shuffled, the metric service restarted meanwhile."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from mlmon.settings import Settings
from tests.robustness.harness import Service, publish_records, wait_for_ids
from tests.robustness.jepsen import analyse

pytestmark = pytest.mark.robustness

RECORDS = 3_000
MAX_DELAY = 30.0


@pytest.mark.timeout(240)
async def test_late_shuffled_labels_across_metric_restarts(
    rabbit_settings: Settings, tmp_path: Path
) -> None:
    """Every record joins exactly once though its label comes 0-30 s late, in random order,
    while the metric service is stopped gracefully once and SIGKILLed once."""
    settings = rabbit_settings
    model, metric = (Service(name, settings, tmp_path) for name in ("model", "metric"))
    model.start()
    metric.start()
    ids = [f"late-{n}" for n in range(RECORDS)]
    rng = random.Random(7)
    schedule = sorted((rng.uniform(0, MAX_DELAY), record_id) for record_id in ids)
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def labels() -> None:
        for at in range(1, int(MAX_DELAY) + 2):  # one confirmed batch per second of delay
            due = [i for delay, i in schedule if at - 1 <= delay < at]
            await asyncio.sleep(max(0.0, started + at - loop.time()))
            if due:
                await publish_records(settings, due, features=False)

    try:
        await publish_records(settings, ids, truths=False)  # predictions come first
        sender = asyncio.create_task(labels())
        await asyncio.sleep(10)
        grace = metric.terminate()
        metric.start()
        await asyncio.sleep(10)
        metric.kill()
        metric.start()
        await sender
        rows = await wait_for_ids(settings.logs_dir, set(ids), patience=60)
    finally:
        for service in (model, metric):
            if service.alive:
                service.terminate()
    report = analyse(ids, ids, rows)
    print(report.table("labels 0-30 s late, shuffled; metric SIGTERM + SIGKILL meanwhile"))
    assert grace < 10
    assert (report.lost, report.duplicated, report.unexpected) == (0, 0, 0)
