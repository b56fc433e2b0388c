"""The metric acks a delivery only once what it brought is durable."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

from mlmon.bus import OutMessage
from mlmon.bus.memory import MemoryBus
from mlmon.services.metric import MetricService
from mlmon.settings import Settings
from mlmon.status import ServiceStats
from mlmon.telemetry import Telemetry
from mlmon.wire import decode_value, encode_value, sent_at_header
from tests.unit.test_telemetry import samples


async def test_true_values_acked_without_a_partner_are_committed_first(tmp_path: Path) -> None:
    """True values whose predictions never come are acked once the queue holds more than its
    share of the prefetch window: at each ack, every acked id is in join.sqlite as seen from
    another connection (committed, not only written). A batch with no rows to write still
    commits what its release moved to the store."""
    settings = Settings(logs_dir=tmp_path / "logs", prefetch=4, wire_format="single")
    bus = MemoryBus()
    acked: list[str] = []
    problems: list[str] = []
    ack = bus.ack

    async def checked_ack(deliveries: Any) -> None:
        ids = [str(decode_value(d.body).id) for d in deliveries]
        db = sqlite3.connect(settings.state_dir / "join.sqlite")
        stored = {key for (key,) in db.execute("SELECT key FROM truths")}
        db.close()
        if missing := [i for i in ids if i not in stored]:
            problems.append(f"acked but not committed: {missing}")
        acked.extend(ids)
        await ack(deliveries)

    bus.ack = checked_ack  # type: ignore[method-assign]
    service = MetricService(settings, bus, ServiceStats("metric"))
    task = asyncio.create_task(service.run())
    for n in range(40):
        await bus.publish(settings.queue_y_true, [OutMessage(encode_value(f"t{n}", float(n)))])
        await asyncio.sleep(0.002)
    for _ in range(200):
        if len(acked) >= 40:
            break
        await asyncio.sleep(0.02)
    await bus.stop_consuming()
    await asyncio.wait_for(task, 5)
    assert len(acked) == 40
    assert problems == []


def test_a_queue_always_leaves_room_in_its_prefetch_window(tmp_path: Path) -> None:
    """Halves whose partners are late are held at most until the queue holds three quarters
    of its prefetch window; then the oldest go to the store and are acked, before their hold
    time is up. A full window would stop the broker's deliveries for the whole hold time, and
    late labels would back the predictions up in the queue."""
    from mlmon.hot_join import Held

    settings = Settings(logs_dir=tmp_path / "logs", prefetch=8, wire_format="single")
    stats = ServiceStats("metric")
    service = MetricService(settings, MemoryBus(), stats)
    queue = service._held[settings.queue_y_pred]
    for _ in range(settings.consumer_prefetch):  # each with a half waiting, due in an hour
        queue.append(Held([object()], deadline=3600.0, waiting=1))
    released = service._release(clock=0.0)
    assert len(released) == 2  # 8 held, 6 may stay
    assert len(queue) == 6
    assert stats.counters["held_to_store"] == 2  # their waiting halves went to the store
    service.store.close()


async def test_latency_runs_to_the_durable_row_not_to_the_join(tmp_path: Path) -> None:
    """With a disk whose writes take 0.2 s, every record's end-to-end latency in /metrics is at
    least that: it ends when the rows are durable, not when the second half arrived."""
    settings = Settings(logs_dir=tmp_path / "logs", wire_format="single")
    bus = MemoryBus()
    stats = ServiceStats("metric")
    telemetry = Telemetry([stats])
    service = MetricService(settings, bus, stats, telemetry)
    write_rows = service._write_rows

    def slow_write(*args: Any) -> None:
        time.sleep(0.2)
        write_rows(*args)

    service._write_rows = slow_write  # type: ignore[method-assign]
    task = asyncio.create_task(service.run())
    headers = sent_at_header(time.time())
    for queue, value in ((settings.queue_y_true, 1.0), (settings.queue_y_pred, 2.0)):
        await bus.publish(
            queue, [OutMessage(encode_value(f"r{n}", value), headers) for n in range(3)]
        )
    for _ in range(100):
        if stats.counters["joined"] >= 3:
            break
        await asyncio.sleep(0.02)
    await bus.stop_consuming()
    await asyncio.wait_for(task, 5)
    latency = {name: value for (name, _), value in samples(telemetry).items()}
    assert latency["mlmon_end_to_end_latency_seconds_count"] == 3
    assert latency["mlmon_end_to_end_latency_seconds_sum"] / 3 >= 0.2
