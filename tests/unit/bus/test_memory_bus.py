"""The in-process bus: batches, back-pressure, dead letters, draining on stop."""

from __future__ import annotations

import asyncio

from mlmon.bus import OutMessage
from mlmon.bus.batching import next_batch
from mlmon.bus.memory import MemoryBus


async def test_batches_take_what_is_ready_up_to_the_limit() -> None:
    """A batch holds everything ready, up to max_batch, in publish order."""
    bus = MemoryBus()
    await bus.publish("q", [OutMessage(str(i).encode()) for i in range(7)])
    stream = bus.batches("q", max_batch=5, linger=0)
    assert [d.body for d in await anext(stream)] == [b"0", b"1", b"2", b"3", b"4"]
    assert [d.body for d in await anext(stream)] == [b"5", b"6"]


async def test_stop_drains_then_ends() -> None:
    """After stop_consuming, what was already queued is still delivered, then iteration ends."""
    bus = MemoryBus()
    await bus.publish("q", [OutMessage(b"a")])
    await bus.stop_consuming()
    seen = [d.body async for batch in bus.batches("q", 10, 0) for d in batch]
    assert seen == [b"a"]


async def test_linger_waits_for_a_fuller_batch() -> None:
    """With linger, a message published shortly after the first joins the same batch."""
    source: asyncio.Queue[int] = asyncio.Queue()
    stopped = asyncio.Event()
    source.put_nowait(1)

    async def later() -> None:
        await asyncio.sleep(0.01)
        source.put_nowait(2)

    task = asyncio.create_task(later())
    assert await next_batch(source, 10, linger=0.5, stopped=stopped) == [1, 2]
    await task


async def test_dead_letters_are_kept_not_queued() -> None:
    """Messages to a .dead queue are kept for inspection and never block the publisher."""
    bus = MemoryBus(capacity=1)
    await bus.publish("q.dead", [OutMessage(b"x"), OutMessage(b"y")])
    assert await bus.depth("q.dead") == 2


async def test_capacity_applies_back_pressure() -> None:
    """A full queue makes publish wait until a consumer takes something."""
    bus = MemoryBus(capacity=1)
    await bus.publish("q", [OutMessage(b"1")])
    blocked = asyncio.create_task(bus.publish("q", [OutMessage(b"2")]))
    await asyncio.sleep(0.01)
    assert not blocked.done()
    await anext(bus.batches("q", 1, 0))
    await asyncio.wait_for(blocked, 1)


async def test_a_fanout_name_copies_each_message_to_every_bound_queue() -> None:
    bus = MemoryBus(fanout={"features": ["features", "features.b"]})
    await bus.publish("features", [OutMessage(b"1"), OutMessage(b"2")])
    await bus.publish("y_true", [OutMessage(b"t")])
    assert await bus.depth("features") == 2
    assert await bus.depth("features.b") == 2
    assert await bus.depth("y_true") == 1


def test_direct_delivery_leaves_a_channel_it_does_not_know_to_aiormq() -> None:
    """An aiormq without the private methods DirectDelivery relies on keeps its own handler
    (a task per delivery: slower, still correct)."""
    from mlmon.bus.consumer import DirectDelivery

    class OtherChannel:
        def __init__(self) -> None:
            self.consumers: dict[str, object] = {}

        async def _on_deliver_frame(self, frame: object) -> None: ...

    channel = OtherChannel()
    assert not DirectDelivery.install(channel, "tag", lambda message: None)  # type: ignore[arg-type]
    assert "_on_deliver_frame" not in vars(channel)


async def test_direct_delivery_takes_its_own_tag_and_leaves_the_rest_to_aiormq() -> None:
    """Deliveries for another consumer tag, or for ours once cancelled (aiormq drops it from
    `consumers`), go to aiormq's own handler; ours are handed over at once, in order."""
    from types import SimpleNamespace

    from mlmon.bus.consumer import DirectDelivery

    class FakeChannel:
        def __init__(self) -> None:
            self.consumers: dict[str, object] = {"ours": object(), "theirs": object()}
            self.to_aiormq: list[str] = []
            self.bodies = iter([b"1", b"2"])

        async def _on_deliver_frame(self, frame: object) -> None:
            self.to_aiormq.append(frame.consumer_tag)  # type: ignore[attr-defined]

        async def _Channel__get_content_header(self) -> object:
            return "header"

        async def _read_content(self, frame: object, header: object) -> object:
            return SimpleNamespace(body=next(self.bodies), header=header)

    channel = FakeChannel()
    handed: list[bytes] = []
    assert DirectDelivery.install(channel, "ours", lambda m: handed.append(m.body))  # type: ignore[arg-type]
    assert not DirectDelivery.install(channel, "another", lambda m: None)  # type: ignore[arg-type]
    deliver = channel._on_deliver_frame  # the instance's: DirectDelivery
    await deliver(SimpleNamespace(consumer_tag="ours"))
    await deliver(SimpleNamespace(consumer_tag="theirs"))
    await deliver(SimpleNamespace(consumer_tag="ours"))
    del channel.consumers["ours"]  # basic_cancel
    await deliver(SimpleNamespace(consumer_tag="ours"))
    assert handed == [b"1", b"2"]
    assert channel.to_aiormq == ["theirs", "ours"]
