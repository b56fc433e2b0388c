"""Running mlmon's model and metric services in-process against the real broker, for tests."""

from __future__ import annotations

import asyncio
import csv
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from mlmon.bus.rabbit import RabbitBus
from mlmon.model.predictors import Predictor, load_model
from mlmon.ops.drift import LiveDrift
from mlmon.ops.status import ServiceStats
from mlmon.ops.telemetry import Telemetry
from mlmon.services.metric.service import MetricService
from mlmon.services.model import run_model
from mlmon.settings import Settings


@asynccontextmanager
async def running(
    settings: Settings,
    services: tuple[str, ...] = ("model", "metric"),
    predictor: Predictor | None = None,
    drift: LiveDrift | None = None,
    telemetry: Telemetry | None = None,
) -> AsyncIterator[dict[str, ServiceStats]]:
    """Run the named services as tasks, each on its own connection; stop them gracefully.
    The model service feeds `drift`; the metric service registers its collectors with
    `telemetry`."""
    buses, tasks, stats = [], [], {}
    for name in services:
        bus = RabbitBus(settings, f"test-{name}")
        await bus.connect()
        stats[name] = ServiceStats(name)
        if name == "model":
            work = run_model(settings, bus, predictor or load_model(None), stats[name], drift)
        else:
            work = MetricService(settings, bus, stats[name], telemetry).run()
        buses.append(bus)
        tasks.append(asyncio.create_task(work))
    try:
        yield stats
    finally:
        for bus in buses:
            await bus.stop_consuming()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)
        for bus in buses:
            await bus.close()


def read_rows(logs_dir: Path) -> list[dict[str, str]]:
    path = logs_dir / "metric_log.csv"
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


async def wait_for_rows(logs_dir: Path, count: int, patience: float = 20) -> list[dict[str, str]]:
    """Poll the CSV until it has `count` rows (or fail with what it has)."""
    deadline = time.monotonic() + patience
    while True:
        rows = read_rows(logs_dir)
        if len(rows) >= count or time.monotonic() > deadline:
            assert len(rows) == count, f"expected {count} rows, found {len(rows)}"
            return rows
        await asyncio.sleep(0.05)
