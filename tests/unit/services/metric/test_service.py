"""The metric service acks a delivery only once what it brought is durable, and its disk work
runs in its own thread only when that pays (a cancellation never leaves it running)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mlmon.bus import OutMessage
from mlmon.bus.memory import MemoryBus
from mlmon.ops.status import ServiceStats
from mlmon.ops.telemetry import Telemetry
from mlmon.services.metric.service import MetricService, _in_thread
from mlmon.settings import Settings
from mlmon.wire import decode_value, encode_value, sent_at_header
from tests.unit.ops.test_telemetry import samples


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


async def test_a_backlog_is_written_in_the_disk_thread_and_a_trickle_on_the_loop(
    tmp_path: Path,
) -> None:
    """A full batch (prefetch deliveries: a backlog) waits for its fsyncs in the disk thread
    while the loop reads on; a smaller one, the loop keeping up, writes on the loop, without
    the trip to the thread and back (in batched mode with a broker; single-record mode and
    the embedded mode always use the thread). Either way every row is written and every
    delivery acked."""
    settings = Settings(
        logs_dir=tmp_path / "logs", prefetch=4, batch_size=16_000, broker_url="amqp://unused/"
    )
    assert settings.batched
    assert not settings.embedded
    assert settings.consumer_prefetch == 4
    bus = MemoryBus()
    stats = ServiceStats("metric")
    service = MetricService(settings, bus, stats)
    write_rows = service._write_rows
    writers: list[tuple[bool, int]] = []  # (on the loop's thread, rows)

    def watched_write(text: str, offsets: dict[str, int]) -> None:
        writers.append((threading.current_thread() is threading.main_thread(), text.count("\n")))
        write_rows(text, offsets)

    service._write_rows = watched_write  # type: ignore[method-assign]

    async def publish(queue: str, ids: range, value: float) -> None:
        await bus.publish(queue, [OutMessage(encode_value(f"r{n}", value)) for n in ids])

    async def joined(count: int) -> None:
        for _ in range(250):
            if stats.counters["joined"] >= count:
                return
            await asyncio.sleep(0.02)

    task = asyncio.create_task(service.run())
    await publish(settings.queue_y_true, range(8), 1.0)
    await joined(0)
    await asyncio.sleep(0.1)  # the true values wait in memory
    await publish(settings.queue_y_pred, range(8), 2.0)  # 8 at once: two full batches
    await joined(8)
    await publish(settings.queue_y_true, range(8, 9), 1.0)
    await asyncio.sleep(0.1)
    await publish(settings.queue_y_pred, range(8, 9), 2.0)  # one: the loop keeps up
    await joined(9)
    assert writers[-1] == (True, 1)  # the trickle, on the loop
    # A backlog in the broker (its polled depth) counts too: written on the loop, which reads
    # nothing meanwhile, batches would stay small and the backlog would drain slower.
    stats.queue_depths[settings.queue_y_pred] = 1000
    await publish(settings.queue_y_true, range(9, 10), 1.0)
    await asyncio.sleep(0.1)
    await publish(settings.queue_y_pred, range(9, 10), 2.0)
    await joined(10)
    await bus.stop_consuming()
    await asyncio.wait_for(task, 5)
    assert (False, 4) in writers  # a full batch, in the disk thread
    assert writers[-1] == (False, 1)  # one record, with the broker's queue deep
    assert sum(rows for _, rows in writers) == 10
    assert bus.acked == 20


async def test_a_cancelled_disk_call_finishes_before_the_cancellation_goes_on() -> None:
    """Cancelled twice while its fsync runs, the caller still waits for it: the clean-up
    that follows (rollback, close) must not touch the store or the log meanwhile."""
    started, finished = threading.Event(), threading.Event()

    def slow_commit() -> int:
        started.set()
        time.sleep(0.3)
        finished.set()
        return 1

    with ThreadPoolExecutor(max_workers=1) as pool:
        task = asyncio.create_task(_in_thread(pool, slow_commit))
        await asyncio.to_thread(started.wait)
        task.cancel()
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert finished.is_set()
        assert await _in_thread(pool, lambda: 7) == 7
