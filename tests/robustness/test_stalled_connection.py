"""A connection that goes silent (no error, no bytes) loses nothing and duplicates nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from mlmon.bus import OutMessage
from mlmon.bus.rabbit import RabbitBus
from mlmon.settings import Settings
from tests.robustness.harness import queue_depths
from tests.robustness.stall_proxy import StallProxy

pytestmark = pytest.mark.robustness


@contextlib.asynccontextmanager
async def bus_through_proxy(
    settings: Settings, name: str, heartbeat: int, publish_timeout: float
) -> AsyncIterator[tuple[StallProxy, RabbitBus]]:
    """A connected RabbitBus whose connections go through a StallProxy; the proxy flows again
    before the bus closes."""
    assert settings.broker_url is not None
    async with StallProxy(settings.broker_url) as proxy:
        bus = RabbitBus(
            settings.model_copy(
                update={"broker_url": proxy.url(heartbeat), "publish_timeout": publish_timeout}
            ),
            name,
        )
        await bus.connect()
        try:
            yield proxy, bus
        finally:
            proxy.flow()
            await bus.close()


async def test_slow_confirms_are_waited_for_not_sent_twice(rabbit_settings: Settings) -> None:
    """The broker gets nothing for four times the publish timeout: the messages written
    meanwhile are waited for, not sent again, so the queue holds each exactly once. (A large
    batch that cannot even be written meanwhile waits in the write, under the channel lock.)"""
    queue = rabbit_settings.queue_y_true
    async with bus_through_proxy(rabbit_settings, "test-slow-confirms", 0, 1.0) as (proxy, bus):
        proxy.stall()
        # Small enough for the socket buffers: written at once, then only confirms are awaited.
        messages = [OutMessage(f"{i:03d}".encode() + b" " * 1000) for i in range(60)]
        publishing = asyncio.create_task(bus.publish(queue, messages))
        await asyncio.sleep(4.0)
        assert not publishing.done()
        proxy.flow()
        await asyncio.wait_for(publishing, 60)
    assert rabbit_settings.broker_url is not None
    depths = await asyncio.to_thread(queue_depths, rabbit_settings.broker_url, [queue])
    assert depths[queue] == len(messages)


async def test_a_stuck_connection_is_replaced_and_the_publish_completes(
    rabbit_settings: Settings,
) -> None:
    """Both directions stall past the heartbeat: aiormq declares the connection stuck and
    rejects what waited on it with a CancelledError *instance*; the publish must take that for
    a lost connection (reconnect, send again), not for its own cancellation."""
    queue = rabbit_settings.queue_y_true
    stuck = bus_through_proxy(rabbit_settings, "test-stuck-connection", 2, 30.0)
    async with stuck as (proxy, bus):
        proxy.stall(both=True)
        messages = [OutMessage(b"y" * 100_000) for _ in range(100)]
        publishing = asyncio.create_task(bus.publish(queue, messages))
        await asyncio.sleep(12.0)  # past the heartbeat grace: the connection is given up
        proxy.cut()
        proxy.flow()
        await asyncio.wait_for(asyncio.shield(publishing), 60)
        assert not publishing.cancelled()
    assert rabbit_settings.broker_url is not None
    depths = await asyncio.to_thread(queue_depths, rabbit_settings.broker_url, [queue])
    # At least once: the stuck connection's part may come twice.
    assert depths[queue] >= len(messages)


async def test_depth_and_stop_on_a_stuck_connection_neither_hang_nor_look_cancelled(
    rabbit_settings: Settings,
) -> None:
    """While the connection is stuck, stopping the consumers returns within its patience, and a
    depth query answers None once aiormq gives the connection up, instead of ending its task as
    if it had been cancelled (which would silently stop the service's depth reporting)."""
    queue = rabbit_settings.queue_y_true
    stuck = bus_through_proxy(rabbit_settings, "test-stuck-depth-stop", 2, 1.0)
    async with stuck as (proxy, bus):
        batches = bus.batches(queue, 10, 0)
        await bus.publish(queue, [OutMessage(b"one")])
        first = await asyncio.wait_for(anext(batches), 10)
        await bus.ack(first)
        proxy.stall(both=True)
        depth = asyncio.create_task(bus.depth(queue))
        loop = asyncio.get_running_loop()
        started = loop.time()
        await bus.stop_consuming()
        assert loop.time() - started < 5  # 1 s patience for the channel, 1 s for the write
        assert await asyncio.wait_for(depth, 40) is None
        assert not depth.cancelled()
        proxy.cut()
