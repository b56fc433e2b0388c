"""A producer's publishes in flight: bounded, counted when confirmed, failures raised."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from mlmon.bus import OutMessage
from mlmon.bus.memory import MemoryBus
from mlmon.bus.publish_window import PublishWindow
from mlmon.ops.status import ServiceStats
from mlmon.services.features import run_features
from mlmon.settings import Settings
from mlmon.wire import decode_records, header_sent_at


class Gate:
    """Publishes that return only when released, in the order they were started."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self._events: dict[int, asyncio.Event] = {}

    async def publish(self, tag: int) -> None:
        self.started.append(tag)
        self._events[tag] = event = asyncio.Event()
        await event.wait()

    def release(self, tag: int) -> None:
        self._events[tag].set()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_publishes_overlap_up_to_the_limit_and_count_when_confirmed() -> None:
    confirmed: list[int] = []
    window = PublishWindow(10, 100, confirmed.append)
    gate = Gate()
    await window.add(4, functools.partial(gate.publish, 1))
    await window.add(6, functools.partial(gate.publish, 2))  # exactly at the limit: still goes
    await settle()
    assert gate.started == [1, 2]
    assert window.records == 10
    assert confirmed == []

    third = asyncio.create_task(window.add(1, functools.partial(gate.publish, 3)))
    await settle()
    assert not third.done(), "an eleventh record must wait for room"
    gate.release(1)
    await asyncio.wait_for(third, 1)
    await settle()
    assert confirmed == [4]
    assert gate.started == [1, 2, 3]
    assert window.records == 7

    gate.release(2)
    gate.release(3)
    await asyncio.wait_for(window.drain(), 1)
    assert sorted(confirmed) == [1, 4, 6]
    assert window.records == 0


async def test_a_publish_larger_than_the_window_goes_alone() -> None:
    confirmed: list[int] = []
    window = PublishWindow(5, 100, confirmed.append)
    gate = Gate()
    await window.add(2, functools.partial(gate.publish, 1))
    big = asyncio.create_task(window.add(50, functools.partial(gate.publish, 2)))
    await settle()
    assert gate.started == [1], "it waits until the window is empty"
    gate.release(1)
    await asyncio.wait_for(big, 1)
    await settle()
    assert gate.started == [1, 2]
    gate.release(2)
    await window.drain()
    assert confirmed == [2, 50]


async def test_a_failed_publish_is_raised_not_counted() -> None:
    confirmed: list[int] = []
    window = PublishWindow(100, 100, confirmed.append)

    async def fails() -> None:
        raise RuntimeError("broker said no")

    await window.add(3, fails)
    await settle()
    with pytest.raises(RuntimeError, match="broker said no"):
        await window.add(1, functools.partial(asyncio.sleep, 0))
    with pytest.raises(RuntimeError, match="broker said no"):
        await window.drain()
    assert confirmed == []


async def test_calls_in_flight_are_bounded_too() -> None:
    window = PublishWindow(1000, 2, lambda n: None)
    gate = Gate()
    await window.add(1, functools.partial(gate.publish, 1))
    await window.add(1, functools.partial(gate.publish, 2))
    third = asyncio.create_task(window.add(1, functools.partial(gate.publish, 3)))
    await settle()
    assert not third.done(), "a third call must wait although records have room"
    gate.release(2)
    await asyncio.wait_for(third, 1)
    gate.release(1)
    await settle()
    gate.release(3)
    await window.drain()


async def test_a_publish_cancelled_by_someone_else_is_a_failure() -> None:
    """Its records were never confirmed: the producer must not count them as sent."""
    confirmed: list[int] = []
    window = PublishWindow(100, 100, confirmed.append)
    gate = Gate()
    await window.add(7, functools.partial(gate.publish, 1))
    await settle()
    next(iter(window._tasks)).cancel()
    await settle()
    with pytest.raises(RuntimeError, match="7 records was cancelled"):
        await window.drain()
    assert confirmed == []


async def test_aclose_cancels_and_waits_for_what_is_in_flight() -> None:
    window = PublishWindow(100, 100, lambda n: None)
    gate = Gate()
    await window.add(1, functools.partial(gate.publish, 1))
    await settle()
    task = next(iter(window._tasks))
    await window.aclose()
    assert task.cancelled()
    await window.drain()  # closing is no failure


class SlowConfirmBus(MemoryBus):
    """Each publish is held `delay` seconds before it returns, like a broker whose write-ahead
    log's fsync stalls; records when every publish call started."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.calls: list[tuple[str, float]] = []

    async def publish(self, queue: str, messages: Sequence[OutMessage]) -> None:
        self.calls.append((queue, time.time()))
        await super().publish(queue, messages)
        await asyncio.sleep(self.delay)


@pytest.mark.alone  # bounds a duration
@pytest.mark.parametrize("form", ["batched", "single"])
async def test_paced_features_keep_publishing_while_confirms_are_slow(
    tmp_path: Path, form: str
) -> None:
    """At 500 records/s with confirms that take 1 s, the records still go out on time, each
    stamped with its own publish time: the producer does not wait for one confirm before
    publishing the next records (which would hide the broker's stall from their latency)."""
    settings = Settings(logs_dir=tmp_path, count=100, rate=500, batch_linger_ms=2, wire_format=form)
    bus = SlowConfirmBus(delay=1.0)
    stats = ServiceStats("features")
    started = time.time()
    sent = await asyncio.wait_for(run_features(settings, bus, stats, asyncio.Event()), 10)
    assert sent == 100
    assert stats.counters["sent"] == 100
    feature_calls = [at for queue, at in bus.calls if queue == settings.queue_features]
    # 100 records at 500/s take 0.2 s to fall due: every call starts within that (plus
    # slack for a loaded machine), not one per 1-s confirm.
    assert len(feature_calls) >= 5
    assert feature_calls[-1] - started < 0.2 + 0.5
    stamps = []
    while await bus.depth(settings.queue_y_true):
        for delivery in await anext(bus.batches(settings.queue_y_true, 1000, 0)):
            records = decode_records(
                delivery.body, delivery.content_type, False, header_sent_at(delivery.headers)
            )
            stamps.extend(records.sent_at.tolist())
    assert len(stamps) == 100
    assert max(stamps) - started < 0.2 + 0.5
