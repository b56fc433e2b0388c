"""The hold policy: a queue always leaves room in its prefetch window."""

from __future__ import annotations

from pathlib import Path

from mlmon.join.batches import BatchJoin
from mlmon.join.held import Held
from mlmon.join.records import RecordJoin
from mlmon.join.store import JoinStore
from mlmon.ops.status import ServiceStats
from mlmon.services.metric.holding import Holding
from mlmon.settings import Settings


def test_a_queue_always_leaves_room_in_its_prefetch_window(tmp_path: Path) -> None:
    """Halves whose partners are late are held at most until the queue holds three quarters
    of its prefetch window; then the oldest go to the store and are acked, before their hold
    time is up. A full window would stop the broker's deliveries for the whole hold time, and
    late labels would back the predictions up in the queue."""
    settings = Settings(logs_dir=tmp_path / "logs", prefetch=8, wire_format="single")
    stats = ServiceStats("metric")
    store = JoinStore(settings.state_dir / "join.sqlite", settings.max_label_wait)
    queues = (settings.queue_y_true, settings.queue_y_pred)
    holding = Holding(
        queues, settings.consumer_prefetch, RecordJoin(store), BatchJoin(store), stats
    )
    for _ in range(settings.consumer_prefetch):  # each with a half waiting, due in an hour
        holding.hold(settings.queue_y_pred, Held([object()], deadline=3600.0, waiting=1))
    released = holding.release(clock=0.0)
    assert len(released) == 2  # 8 held, 6 may stay
    assert holding.unacked(settings.queue_y_pred) == 6
    assert stats.counters["held_to_store"] == 2  # their waiting halves went to the store
    store.close()
