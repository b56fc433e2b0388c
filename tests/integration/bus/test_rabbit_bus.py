"""RabbitBus against the real broker: confirms, batches, acks, redelivery, clear errors."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pika
import pytest
from aiormq.exceptions import PublishError

from mlmon.bus import OutMessage
from mlmon.bus.confirmed_publish import Outgoing, publish_confirmed, send_confirmed
from mlmon.bus.rabbit import RabbitBus
from mlmon.errors import BrokerError
from mlmon.settings import Settings
from tests.robustness.harness import queue_consumers


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


async def test_one_write_of_many_messages_keeps_each_whole_and_in_order(
    rabbit_settings: Settings,
) -> None:
    """publish_confirmed puts many messages in one write: each keeps its body (one larger than
    the broker's frame size, so split into several body frames), headers and content type."""
    bus = RabbitBus(rabbit_settings, "test-one-write")
    await bus.connect()
    try:
        queue = rabbit_settings.queue_y_pred
        large = bytes(range(256)) * 2000  # 512 kB: above RabbitMQ's 128 kB frame_max
        messages = [
            OutMessage(b"first", {"n": 1}),
            OutMessage(large, {"n": 2}, "application/x-test"),
            *(OutMessage(f"{i}".encode(), {"n": i}) for i in range(3, 600)),
        ]
        await bus.publish(queue, messages)
        deliveries = await collect(bus, queue, len(messages))
        assert [d.body for d in deliveries] == [m.body for m in messages]
        assert [d.headers for d in deliveries] == [m.headers for m in messages]
        assert deliveries[1].content_type == "application/x-test"
        assert deliveries[0].content_type == messages[0].content_type
    finally:
        await bus.close()


async def test_unroutable_message_is_not_taken_for_confirmed(rabbit_settings: Settings) -> None:
    """A message no queue takes comes back as a return (aio-pika #78): its outcome is an error
    while the routable ones beside it are confirmed, and the bus keeps retrying it instead of
    reporting it sent."""
    bus = RabbitBus(rabbit_settings, "test-unroutable")
    await bus.connect()
    try:
        channel = await bus._channel().get_underlay_channel()
        routable = [Outgoing(b"kept", None, "application/json")] * 3
        sent = await publish_confirmed(channel, "", rabbit_settings.queue_y_true, routable)
        assert sent == [None, None, None]
        missing = f"no-such-queue-{uuid.uuid4().hex}"
        lost = await publish_confirmed(channel, "", missing, routable[:2])
        assert [type(outcome) for outcome in lost] == [PublishError, PublishError]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(bus.publish(missing, [OutMessage(b"lost")]), 1.0)
        # The channel's bookkeeping is still right: later publishes confirm as before.
        again = await publish_confirmed(channel, "", rabbit_settings.queue_y_true, routable)
        assert again == [None, None, None]
        assert len(await collect(bus, rabbit_settings.queue_y_true, 6)) == 6
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


async def test_consumer_comes_back_after_its_queue_is_deleted(rabbit_settings: Settings) -> None:
    """The broker cancels a consumer whose queue is deleted; the bus declares the queue again,
    bound to the features fan-out as before, and goes on consuming (what aio-pika's robust
    queue would do): features published afterwards arrive, through one consumer, and none is
    left behind once the bus stops consuming."""
    assert rabbit_settings.broker_url is not None
    url = rabbit_settings.broker_url
    bus = RabbitBus(rabbit_settings, "test-consumer-cancel")
    await bus.connect()
    queue = rabbit_settings.queue_features  # a model's queue: bound to the features fan-out
    try:
        batches = bus.batches(queue, 10, 0)
        await bus.publish(queue, [OutMessage(b"before")])
        first = await asyncio.wait_for(anext(batches), 10)
        assert [d.body for d in first] == [b"before"]
        await bus.ack(first)

        def delete() -> None:
            connection = pika.BlockingConnection(pika.URLParameters(url))
            connection.channel().queue_delete(queue)
            connection.close()

        await asyncio.to_thread(delete)
        await asyncio.sleep(0.5)  # the consumer declares and binds the queue, and consumes
        await asyncio.wait_for(bus.publish(queue, [OutMessage(b"after")]), 10)
        second = await asyncio.wait_for(anext(batches), 10)
        assert [d.body for d in second] == [b"after"]
        await bus.ack(second)
        assert await asyncio.to_thread(queue_consumers, url, [queue]) == {queue: 1}
        await bus.stop_consuming()
        assert await asyncio.to_thread(queue_consumers, url, [queue]) == {queue: 0}
    finally:
        await bus.close()


async def test_a_cancelled_write_gives_its_delivery_tags_back(rabbit_settings: Settings) -> None:
    """A publish cancelled while it waits to hand its frames to the connection's writer (its
    queue full) leaves the channel's numbering as it was: later publishes are confirmed as
    theirs, and only they reach the queue."""
    bus = RabbitBus(rabbit_settings, "test-cancelled-write")
    await bus.connect()
    queue = rabbit_settings.queue_y_true
    try:
        channel: Any = await bus._channel().get_underlay_channel()
        tag, writer = channel.delivery_tag, channel.write_queue
        full: asyncio.Queue[object] = asyncio.Queue(maxsize=1)
        full.put_nowait(object())
        channel.write_queue = full
        try:
            waiting = asyncio.create_task(
                send_confirmed(channel, "", queue, [Outgoing(b"never", None, "x")] * 3)
            )
            await asyncio.sleep(0.2)
            assert not waiting.done()
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        finally:
            channel.write_queue = writer
        assert channel.delivery_tag == tag
        assert tag + 1 not in channel.confirmations
        assert not channel.message_id_delivery_tag
        sent = await publish_confirmed(channel, "", queue, [Outgoing(b"kept", None, "x")] * 2)
        assert sent == [None, None]
        assert [d.body for d in await collect(bus, queue, 2)] == [b"kept", b"kept"]
        await asyncio.sleep(0.2)
        assert await bus.depth(queue) == 0
    finally:
        await bus.close()


async def test_consumers_have_a_connection_of_their_own(rabbit_settings: Settings) -> None:
    """RabbitMQ blocks a publishing connection during a resource alarm; acks on it would wait
    too, so the bus consumes on a second connection (named after the first)."""
    import shutil
    import subprocess

    name = f"test-two-connections-{uuid.uuid4().hex[:8]}"
    bus = RabbitBus(rabbit_settings, name)
    await bus.connect()
    try:
        queue = rabbit_settings.queue_y_true
        batches = bus.batches(queue, 10, 0)
        await bus.publish(queue, [OutMessage(b"x")])
        await bus.ack(await asyncio.wait_for(anext(batches), 10))
        listed = await asyncio.to_thread(
            subprocess.run,
            [shutil.which("rabbitmqctl") or "rabbitmqctl", "list_connections", "client_properties"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        ours = [line for line in listed.stdout.splitlines() if name in line]
        assert len(ours) == 2
        assert sum(f"{name} (consuming)" in line for line in ours) == 1
        assert bus.connected
    finally:
        await bus.close()


async def test_deliveries_are_handed_over_in_order_without_a_task_each(
    rabbit_settings: Settings,
) -> None:
    """The consumer takes over aiormq's delivery handler (aiormq would start a task per
    delivery): 300 single messages arrive complete and in order while the event loop starts
    far fewer tasks than that."""
    bus = RabbitBus(rabbit_settings, "test-direct-delivery")
    await bus.connect()
    queue = rabbit_settings.queue_y_true
    loop = asyncio.get_running_loop()
    started = 0

    def counting_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        nonlocal started
        started += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    try:
        bodies = [f"m{n}".encode() for n in range(300)]
        await bus.publish(queue, [OutMessage(body) for body in bodies])
        loop.set_task_factory(counting_factory)
        try:
            seen = await collect(bus, queue, len(bodies))
        finally:
            loop.set_task_factory(None)
        assert [d.body for d in seen] == bodies
        assert [consumer.direct for consumer in bus._consumers] == [True]
        # Measured: 80 (the batching's timers and the acks), 381 with aiormq's handler.
        assert started < 150  # aiormq's own handler: one per delivery, 300 or more
    finally:
        await bus.close()
