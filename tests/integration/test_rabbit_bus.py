"""RabbitBus against the real broker: confirms, batches, acks, redelivery, clear errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mlmon.bus import OutMessage
from mlmon.bus.rabbit import RabbitBus
from mlmon.errors import BrokerError
from mlmon.settings import Settings


async def collect(bus: RabbitBus, queue: str, expected: int, patience: float = 10) -> list:
    """Consume until `expected` deliveries arrived; ack them all."""
    seen = []

    async def run() -> None:
        async for batch in bus.batches(queue, 100, 0.01):
            seen.extend(batch)
            await bus.ack(batch)
            if len(seen) >= expected:
                return

    await asyncio.wait_for(run(), patience)
    return seen


async def test_publish_then_consume_in_batches(rabbit_settings: Settings) -> None:
    """Confirmed messages come back in batches, headers intact, and the queue empties on ack."""
    bus = RabbitBus(rabbit_settings, "test-publish")
    await bus.connect()
    try:
        queue = rabbit_settings.queue_features
        await bus.publish(queue, [OutMessage(f"{i}".encode(), {"n": i}) for i in range(250)])
        deliveries = await collect(bus, queue, 250)
        assert [d.body for d in deliveries] == [f"{i}".encode() for i in range(250)]
        assert deliveries[7].headers == {"n": 7}
        assert max(len(b) for b in [deliveries]) >= 1
        await asyncio.sleep(0.2)
        assert await bus.depth(queue) == 0
    finally:
        await bus.close()


async def test_unacked_deliveries_come_back_redelivered(rabbit_settings: Settings) -> None:
    """A consumer that dies without acking loses nothing: the broker redelivers."""
    queue = rabbit_settings.queue_y_true
    first = RabbitBus(rabbit_settings, "test-crashing-consumer")
    await first.connect()
    await first.publish(queue, [OutMessage(b"precious")])
    batch = await anext(first.batches(queue, 10, 0))
    assert [d.body for d in batch] == [b"precious"]
    await first.close()  # no ack: as if killed
    second = RabbitBus(rabbit_settings, "test-second-consumer")
    await second.connect()
    try:
        (again,) = await collect(second, queue, 1)
        assert again.body == b"precious"
        assert again.redelivered
    finally:
        await second.close()


async def test_mismatched_existing_queue_is_explained(rabbit_settings: Settings) -> None:
    """A queue declared by the seeds (plain) clashes with durable settings, with a clear hint."""
    seed_style = rabbit_settings.model_copy(update={"seed_compatible": True})
    plain = RabbitBus(seed_style, "test-seed-declare")
    await plain.connect()
    await plain.close()
    durable = RabbitBus(rabbit_settings, "test-durable-declare")
    with pytest.raises(BrokerError, match="MLMON_SEED_COMPATIBLE"):
        await durable.connect()
    await durable.close()


async def test_unreachable_broker_is_a_clear_error(tmp_path: Path) -> None:
    """Nothing listening: BrokerError naming the address, after the patience runs out."""
    settings = Settings(broker_url="amqp://guest:guest@127.0.0.1:1/", logs_dir=tmp_path)
    bus = RabbitBus(settings, "test-unreachable", connect_patience=0.5)
    with pytest.raises(BrokerError, match=r"cannot reach RabbitMQ at amqp://guest:\*\*\*@127"):
        await bus.connect()
