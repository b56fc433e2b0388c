"""The `Bus` contract: what services may rely on, whichever bus carries their messages.

`BusContract` is subclassed once per implementation, with a `broker` fixture that opens buses
on one broker. Where an implementation genuinely differs, its subclass marks the test
`xfail(strict=True)` and says why, so that the difference is written down and a change to it
shows up as a failure.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from mlmon.bus import Bus, Delivery, OutMessage
from mlmon.ops.status import ServiceStats
from mlmon.services.dead_letters import Rejected, dead_letter
from mlmon.wire import HEADER_REASON, HEADER_SOURCE_QUEUE


@dataclass(frozen=True)
class Names:
    """A test's own queues: the features fan-out (named like the features queue), a
    challenger's queue bound to it, and a plain queue."""

    features: str
    challenger: str
    y_true: str


class Broker(Protocol):
    """Opens buses on one broker for a test, and closes whatever is still open afterwards."""

    names: Names

    async def open(self, name: str, *, challenger: bool = False) -> Bus:
        """A connected bus; a challenger's bus also binds `names.challenger` to the fan-out."""

    async def reopen(self, bus: Bus, name: str) -> Bus:
        """Close `bus` without acking what it holds (as if its process died) and open another."""


async def collect(bus: Bus, queue: str, expected: int, patience: float = 10) -> list[Delivery]:
    """Consume until `expected` deliveries arrived; ack them all."""
    seen: list[Delivery] = []

    async def run() -> None:
        async for batch in bus.batches(queue, 100, 0.01):
            seen.extend(batch)
            await bus.ack(batch)
            if len(seen) >= expected:
                return

    await asyncio.wait_for(run(), patience)
    return seen


async def take(bus: Bus, queue: str, expected: int, patience: float) -> list[Delivery]:
    """The first `expected` deliveries, not acked (one batch stream, so they come in order)."""
    seen: list[Delivery] = []

    async def run() -> None:
        async for batch in bus.batches(queue, expected, 0.01):
            seen.extend(batch)
            if len(seen) >= expected:
                return

    await asyncio.wait_for(run(), patience)
    return seen


async def settled_depth(bus: Bus, queue: str, expected: int, patience: float) -> int | None:
    """The queue's depth once it is `expected`, or the last one seen when `patience` runs out
    (a broker counts acks and confirms a moment after the client has sent them)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    # A broker's count sets no event to wait on: poll it.
    while (depth := await bus.depth(queue)) != expected and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    return depth


class BusContract:
    """Publish, consume in batches, ack, redelivery, dead letters and the features fan-out."""

    patience = 10.0  # seconds a test waits for what it expects

    async def test_a_bus_is_connected_once_open(self, broker: Broker) -> None:
        bus = await broker.open("connected")
        assert bus.connected

    async def test_publish_then_consume_in_batches(self, broker: Broker) -> None:
        """Confirmed messages come back in batches, headers intact, and the queue empties on ack."""
        bus = await broker.open("publish")
        queue = broker.names.features
        await bus.publish(queue, [OutMessage(f"{i}".encode(), {"n": i}) for i in range(250)])
        sizes: list[int] = []
        deliveries: list[Delivery] = []

        async def run() -> None:
            async for batch in bus.batches(queue, 100, 0.01):
                sizes.append(len(batch))
                deliveries.extend(batch)
                await bus.ack(batch)
                if len(deliveries) >= 250:
                    return

        await asyncio.wait_for(run(), self.patience)
        assert [d.body for d in deliveries] == [f"{i}".encode() for i in range(250)]
        assert deliveries[7].headers == {"n": 7}
        assert all(1 <= size <= 100 for size in sizes)
        assert await settled_depth(bus, queue, 0, self.patience) == 0

    async def test_a_batch_holds_up_to_max_batch_in_publish_order(self, broker: Broker) -> None:
        """Lingering, a batch fills up to max_batch; the rest comes next, in publish order."""
        bus = await broker.open("max-batch")
        queue = broker.names.y_true
        await bus.publish(queue, [OutMessage(str(i).encode()) for i in range(7)])
        stream = bus.batches(queue, max_batch=5, linger=0.5)
        first = await asyncio.wait_for(anext(stream), self.patience)
        assert [d.body for d in first] == [b"0", b"1", b"2", b"3", b"4"]
        second = await asyncio.wait_for(anext(stream), self.patience)
        assert [d.body for d in second] == [b"5", b"6"]
        await bus.ack([*first, *second])

    async def test_one_write_of_many_messages_keeps_each_whole_and_in_order(
        self, broker: Broker
    ) -> None:
        """Each message of one publish keeps its body (one larger than RabbitMQ's frame size,
        which publish_confirmed splits into several body frames), headers and content type."""
        bus = await broker.open("one-write")
        queue = broker.names.y_true
        large = bytes(range(256)) * 2000  # 512 kB: above RabbitMQ's 128 kB frame_max
        messages = [
            OutMessage(b"first", {"n": 1}),
            OutMessage(large, {"n": 2}, "application/x-test"),
            *(OutMessage(f"{i}".encode(), {"n": i}) for i in range(3, 600)),
        ]
        await bus.publish(queue, messages)
        deliveries = await collect(bus, queue, len(messages), self.patience)
        assert [d.body for d in deliveries] == [m.body for m in messages]
        assert [d.headers for d in deliveries] == [m.headers for m in messages]
        assert deliveries[1].content_type == "application/x-test"
        assert deliveries[0].content_type == messages[0].content_type

    async def test_acked_deliveries_are_not_delivered_again(self, broker: Broker) -> None:
        """After an ack, a consumer that comes back gets only what was published since."""
        queue = broker.names.y_true
        first = await broker.open("acking-consumer")
        await first.publish(queue, [OutMessage(b"a"), OutMessage(b"b")])
        assert [d.body for d in await collect(first, queue, 2, self.patience)] == [b"a", b"b"]
        second = await broker.reopen(first, "next-consumer")
        await second.publish(queue, [OutMessage(b"later")])
        (only,) = await collect(second, queue, 1, self.patience)
        assert only.body == b"later"
        assert not only.redelivered

    async def test_unacked_deliveries_come_back_redelivered(self, broker: Broker) -> None:
        """A consumer that dies without acking loses nothing: the broker redelivers."""
        queue = broker.names.y_true
        first = await broker.open("crashing-consumer")
        await first.publish(queue, [OutMessage(b"precious")])
        batch = await asyncio.wait_for(anext(first.batches(queue, 10, 0)), self.patience)
        assert [d.body for d in batch] == [b"precious"]
        second = await broker.reopen(first, "second-consumer")  # no ack: as if killed
        (again,) = await collect(second, queue, 1, self.patience)
        assert again.body == b"precious"
        assert again.redelivered

    async def test_stop_consuming_ends_the_batches(self, broker: Broker) -> None:
        """Once consuming stops and what was handed over is taken, the batches end."""
        bus = await broker.open("stopping")
        queue = broker.names.y_true
        await bus.publish(queue, [OutMessage(b"a")])
        stream = bus.batches(queue, 10, 0)
        first = await asyncio.wait_for(anext(stream), self.patience)
        assert [d.body for d in first] == [b"a"]
        await bus.ack(first)
        await bus.stop_consuming()

        async def rest() -> list[bytes]:
            return [d.body async for batch in stream for d in batch]

        assert await asyncio.wait_for(rest(), self.patience) == []

    async def _dead_letter_one(self, bus: Bus, queue: str, reason: str) -> ServiceStats:
        """Take a good and a bad message; dead-letter the bad one as services do (confirmed
        into `<queue>.dead` with the reason in a header), then ack both."""
        await bus.publish(queue, [OutMessage(b"good"), OutMessage(b"bad", {"k": "v"}, "x/bad")])
        good, bad = await take(bus, queue, 2, self.patience)
        stats = ServiceStats("contract")
        await dead_letter(bus, [Rejected.message(bad, reason)], stats)
        await bus.ack([good, bad])
        assert good.body == b"good"
        return stats

    async def test_a_dead_letter_waits_in_its_dead_letter_queue(self, broker: Broker) -> None:
        """A rejected message is confirmed into `<queue>.dead`; its own queue is left empty."""
        bus = await broker.open("dead-letters")
        stats = await self._dead_letter_one(bus, broker.names.y_true, "unreadable")
        assert stats.counters["dead_lettered"] == 1
        dead = broker.names.y_true + ".dead"
        assert await settled_depth(bus, dead, 1, self.patience) == 1
        assert await settled_depth(bus, broker.names.y_true, 0, self.patience) == 0

    async def test_a_dead_letter_is_read_back_with_its_reason(self, broker: Broker) -> None:
        """What is in `<queue>.dead` can be consumed: body, content type and headers as they
        were, plus the reason and the queue it came from."""
        bus = await broker.open("dead-letters-read")
        await self._dead_letter_one(bus, broker.names.y_true, "unreadable")
        (dead,) = await collect(bus, broker.names.y_true + ".dead", 1, self.patience)
        assert dead.body == b"bad"
        assert dead.content_type == "x/bad"
        assert dead.headers == {
            "k": "v",
            HEADER_REASON: "unreadable",
            HEADER_SOURCE_QUEUE: broker.names.y_true,
        }

    async def test_the_features_fan_out_copies_each_message_to_every_bound_queue(
        self, broker: Broker
    ) -> None:
        """Features published once reach the champion's queue and a challenger's queue alike;
        other queues are not fanned out."""
        names = broker.names
        model = await broker.open("champion")
        challenger = await broker.open("challenger", challenger=True)
        await model.publish(names.features, [OutMessage(b"1"), OutMessage(b"2")])
        await model.publish(names.y_true, [OutMessage(b"t")])
        assert await settled_depth(model, names.features, 2, self.patience) == 2
        assert await settled_depth(model, names.challenger, 2, self.patience) == 2
        assert await settled_depth(model, names.y_true, 1, self.patience) == 1
        champion_got = await collect(model, names.features, 2, self.patience)
        challenger_got = await collect(challenger, names.challenger, 2, self.patience)
        assert [d.body for d in champion_got] == [b"1", b"2"]
        assert [d.body for d in challenger_got] == [b"1", b"2"]
