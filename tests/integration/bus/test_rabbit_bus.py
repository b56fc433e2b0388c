"""RabbitBus against the real broker: the bus contract, and what is RabbitMQ's own (returns of
unroutable messages, clashing declarations, a deleted queue, one write's delivery tags, the
consumers' connection, deliveries without a task each, clear errors)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pika
import pytest
from aiormq.exceptions import PublishError

from mlmon.bus import Bus, OutMessage
from mlmon.bus.confirmed_publish import Outgoing, publish_confirmed, send_confirmed
from mlmon.bus.rabbit import RabbitBus
from mlmon.errors import BrokerError
from mlmon.settings import Settings
from tests.conftest import delete_queues
from tests.contract.bus import BusContract, Names, collect, settled_depth
from tests.robustness.harness import queue_consumers


class RabbitBroker:
    """Buses on the real broker, on the test's own queues; a challenger's bus reads a queue of
    its own, bound to the features fan-out as a challenger's model service binds it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.names = Names(
            settings.queue_features, settings.queue_features + "-challenger", settings.queue_y_true
        )
        self.opened: list[RabbitBus] = []

    async def open(self, name: str, *, challenger: bool = False) -> Bus:
        settings = self._settings
        if challenger:
            settings = settings.model_copy(update={"model_queue": self.names.challenger})
        bus = RabbitBus(settings, f"test-contract-{name}")
        self.opened.append(bus)
        await bus.connect()
        return bus

    async def reopen(self, bus: Bus, name: str) -> Bus:
        await bus.close()
        self.opened = [opened for opened in self.opened if opened is not bus]
        return await self.open(name)


class TestRabbitBus(BusContract):
    @pytest.fixture
    async def broker(self, rabbit_settings: Settings) -> AsyncIterator[RabbitBroker]:
        broker = RabbitBroker(rabbit_settings)
        try:
            yield broker
        finally:
            for bus in broker.opened:
                await bus.close()
            assert rabbit_settings.broker_url is not None
            await asyncio.to_thread(
                delete_queues, rabbit_settings.broker_url, [broker.names.challenger]
            )


async def until(check: Callable[[], bool], patience: float = 10) -> bool:
    """Whether `check()` came true (polled in a thread: it may block) within `patience`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    # The broker's state sets no event to wait on: poll it.
    while not (held := await asyncio.to_thread(check)) and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return held


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

        def consuming() -> bool:
            try:
                return queue_consumers(url, [queue]) == {queue: 1}
            except pika.exceptions.ChannelClosedByBroker:
                return False  # not declared again yet

        assert await until(consuming)  # the consumer declares and binds the queue, and consumes
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
            await asyncio.wait({waiting}, timeout=0.2)
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
        assert await settled_depth(bus, queue, 0, 10) == 0
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
        # What remains are the batching's timers and the acks.
        assert started < 150  # aiormq's own handler: one per delivery, 300 or more
    finally:
        await bus.close()
