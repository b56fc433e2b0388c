"""SIGKILL the model and metric services at random moments: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from mlmon.settings import Settings
from mlmon.wire import BATCH
from mlmon.wire.arrow import ARROW
from tests.conftest import delete_queues
from tests.robustness.harness import (
    NAMED_BATCH,
    Service,
    batches_of,
    data_queues,
    dead_queues,
    join_store_rows,
    metric_workers,
    publish_records,
    queue_depths,
    wait_for_ids,
)
from tests.robustness.jepsen import analyse

pytestmark = pytest.mark.robustness

RECORDS = 20_000
KILLS_EACH = 5


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("batch", "workers", "form"),
    [(0, 1, BATCH), (100, 3, BATCH), (100, 3, NAMED_BATCH), (100, 1, ARROW)],
    ids=["single", "batched-3-metric-workers", "named-batches-3-metric-workers", "named-arrow"],
)
async def test_sigkill_model_and_metric_repeatedly(
    rabbit_settings: Settings, tmp_path: Path, batch: int, workers: int, form: str
) -> None:
    """20,000 confirmed records, one per message into one metric, or batched into 3 metric
    workers (sharded by id) unnamed (joined record by record) or named as mlmon's features
    names them (joined whole), or named Arrow batches with tags (joined whole); the model and
    the metric workers each SIGKILLed 5+ times in all (every worker at least once) and
    restarted: lost = 0, duplicated = 0."""
    settings = rabbit_settings.model_copy(update={"metric_workers": workers})
    assert settings.broker_url is not None
    metrics = metric_workers(settings, tmp_path)
    services = [Service("model", settings, tmp_path), *metrics]
    for service in services:
        service.start()
    ids = [f"crash-{n}" for n in range(RECORDS)]
    producer = asyncio.create_task(publish_records(settings, ids, batch=batch, form=form))
    rng = random.Random(20261124)
    kills = {"model": 0, "metric": 0}
    try:
        while (
            min(kills.values()) < KILLS_EACH
            or any(worker.starts < 2 for worker in metrics)
            or not producer.done()
        ):
            await asyncio.sleep(rng.uniform(0.3, 1.5))
            kind = rng.choice(["model", "metric"])
            victim = services[0] if kind == "model" else rng.choice(metrics)
            victim.kill()
            kills[kind] += 1
            victim.start()
        await producer
        rows = await wait_for_ids(settings.logs_dir, set(ids), patience=120)
        dead = sum(queue_depths(settings.broker_url, dead_queues(settings)).values())
    finally:
        for service in services:
            if service.alive:
                service.terminate()
        if workers > 1:
            delete_queues(settings.broker_url, data_queues(settings))
    report = analyse(ids, ids, rows, dead)
    what = f"{form} batches of {batch}, {workers} metric workers" if batch else "single records"
    print(report.table(f"{what}: SIGKILL x{kills['model']} model, x{kills['metric']} metric"))
    assert kills["model"] >= KILLS_EACH
    assert kills["metric"] >= KILLS_EACH
    assert report.lost == 0
    assert report.duplicated == 0
    assert report.unexpected == 0
    assert report.dead_lettered == 0
    batches, pairs = join_store_rows(settings.logs_dir)
    if form == BATCH:  # unnamed: the record-by-record join took them
        assert batches == 0
    else:  # named: joined whole, every batch (it stays in the store for max_wait)
        assert (batches, pairs) == (batches_of(ids, batch, workers), 0)
