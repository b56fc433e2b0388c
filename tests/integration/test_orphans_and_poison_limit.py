"""Unmatched halves become orphans; a message that keeps failing is dead-lettered."""

from __future__ import annotations

import asyncio
import csv

from mlmon.bus import OutMessage
from mlmon.bus.rabbit import RabbitBus
from mlmon.settings import Settings
from mlmon.wire import encode_value
from tests.integration.pipeline import running, wait_for_rows


async def test_unmatched_halves_expire_into_the_orphans_log(rabbit_settings: Settings) -> None:
    """A prediction and a true value whose partners never come are logged as orphans and
    counted once max_label_wait passes; a matched pair is not."""
    settings = rabbit_settings.model_copy(update={"max_label_wait": 1.0, "status_interval": 0.2})
    bus = RabbitBus(settings, "test-orphans")
    await bus.connect()
    try:
        async with running(settings, services=("metric",)) as stats:
            await bus.publish(
                settings.queue_y_pred,
                [
                    OutMessage(encode_value("lonely-pred", 1.0)),
                    OutMessage(encode_value("pair", 2.0)),
                ],
            )
            await bus.publish(
                settings.queue_y_true,
                [
                    OutMessage(encode_value("lonely-true", 3.0)),
                    OutMessage(encode_value("pair", 2.5)),
                ],
            )
            await wait_for_rows(settings.logs_dir, 1)
            for _ in range(100):
                if stats["metric"].counters["orphans"] >= 2:
                    break
                await asyncio.sleep(0.1)
            assert stats["metric"].gauges["pending_y_true"] == 0
    finally:
        await bus.close()
    assert stats["metric"].counters["orphans"] == 2
    with (settings.logs_dir / "orphans.csv").open(newline="") as handle:
        orphans = sorted((row["id"], row["kind"]) for row in csv.DictReader(handle))
    assert orphans == [("lonely-pred", "y_pred"), ("lonely-true", "y_true")]


async def test_a_message_that_is_never_acked_is_dead_lettered_after_the_limit(
    rabbit_settings: Settings,
) -> None:
    """A delivery whose consumer dies every time (never acks) goes to <queue>.dead after
    MLMON_DELIVERY_LIMIT attempts instead of being redelivered forever."""
    settings = rabbit_settings.model_copy(update={"delivery_limit": 3})
    queue = settings.queue_features
    publisher = RabbitBus(settings, "test-poison-publisher")
    await publisher.connect()
    await publisher.publish(queue, [OutMessage(b'{"id": "killer", "body": [1]}')])
    attempts = 0
    for _ in range(10):
        consumer = RabbitBus(settings, "test-dying-consumer")
        await consumer.connect()
        try:
            batch = await asyncio.wait_for(anext(consumer.batches(queue, 1, 0)), 2)
            attempts += len(batch)
        except TimeoutError:
            await consumer.close()
            break
        await consumer.close()  # "crash" without acking
    await asyncio.sleep(0.5)
    try:
        assert await publisher.depth(queue + ".dead") == 1
        assert await publisher.depth(queue) == 0
    finally:
        await publisher.close()
    assert attempts == 4  # the first delivery plus three redeliveries
