"""Both message forms carry every record, with its publish time, from features to the row."""

from __future__ import annotations

import asyncio
import time

import pytest

from mlmon.bus.rabbit import RabbitBus
from mlmon.ops.status import ServiceStats
from mlmon.services.features import run_features
from mlmon.settings import Settings
from tests.integration.pipeline import running, wait_for_rows


@pytest.mark.parametrize("form", ["single", "batched"])
async def test_records_and_publish_times_arrive(rabbit_settings: Settings, form: str) -> None:
    """300 records in either form: 300 rows whose sent_at is the real publish time (to the
    microsecond, not rounded by a 32-bit header) and precedes joined_at."""
    settings = rabbit_settings.model_copy(
        update={"wire_format": form, "count": 300, "rate": 0, "batch_size": 64}
    )
    before = time.time()
    async with running(settings):
        bus = RabbitBus(settings, "test-forms-features")
        await bus.connect()
        sent = await run_features(settings, bus, ServiceStats("features"), asyncio.Event())
        await bus.close()
        rows = await wait_for_rows(settings.logs_dir, sent)
    assert sent == 300
    for row in rows:
        sent_at, joined_at = float(row["sent_at"]), float(row["joined_at"])
        assert before - 0.001 <= sent_at <= joined_at <= time.time()
        assert joined_at - sent_at < 30
