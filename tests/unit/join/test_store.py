"""The join's durable store: orphans expire, commits survive a restart, an older store is
upgraded, and the hot queries read what waits, not everything kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlmon.join.store import JoinStore
from tests.unit.join.helpers import Join, errors, verdict


def test_orphans_expire_after_max_wait() -> None:
    """Halves older than max_wait are returned as orphans once and forgotten."""
    store = JoinStore(":memory:", max_wait=10)
    join = Join(store, on_disk=True)
    join.truth("t", 1.0, at=0)
    join.prediction("p", 1.0, at=0)
    join.truth("young", 1.0, at=8)
    join.truth("matched", 1.0, at=0)
    join.prediction("matched", 1.0, at=1)
    assert store.pending() == {"y_true": 2, "y_pred": 1}
    orphans = store.expire(now=11)
    assert sorted((o.kind, o.key) for o in orphans) == [("y_pred", "p"), ("y_true", "t")]
    assert store.expire(now=11) == []
    assert store.pending() == {"y_true": 1, "y_pred": 0}


def test_state_survives_a_restart_only_once_committed(tmp_path: Path) -> None:
    """Committed halves and offsets survive reopening; uncommitted ones vanish (a crash)."""
    path = tmp_path / "join.sqlite"
    store = JoinStore(path, max_wait=60)
    join = Join(store, on_disk=True)
    join.truth("kept", 1.0)
    store.commit({"metric_log.csv": 123})
    join.truth("lost", 1.0)
    store._db.close()  # a crash: no commit, no rollback
    reopened = Join(JoinStore(path, max_wait=60), on_disk=True)
    assert reopened.store.offset("metric_log.csv") == 123
    assert verdict(reopened.prediction("kept", 0.5)) == "joined"
    assert verdict(reopened.prediction("lost", 0.5)) == "pending"


def test_a_store_from_before_joined_truths_is_upgraded(tmp_path: Path) -> None:
    """An older store (truths kept with matched = 1, joined without y_true) still recognises
    a redelivered half after the upgrade."""
    path = tmp_path / "join.sqlite"
    store = JoinStore(path, max_wait=60)
    store._db.executescript(
        "DROP TABLE joined; CREATE TABLE joined (key TEXT NOT NULL, "
        "model TEXT NOT NULL, y_pred REAL NOT NULL, joined_at REAL NOT NULL, "
        "PRIMARY KEY (key, model)); INSERT INTO joined VALUES ('a', 'm', 2.0, 0.0); "
        "INSERT INTO truths VALUES ('a', 1.0, NULL, 0.0, 1);"
    )
    store._db.close()
    join = Join(JoinStore(path, max_wait=60), on_disk=True)
    assert verdict(join.truth("a", 1.0)) == "duplicate"
    assert verdict(join.prediction("a", 2.0)) == "duplicate"
    assert errors(join.prediction("a", 4.0, model="other").joined) == [3.0]


def test_a_commit_with_nothing_new_is_known_as_such(tmp_path: Path) -> None:
    """`changed` tells the metric when a commit (and its fsync) would change nothing: no row
    written since the last commit, and every offset as committed."""
    store = JoinStore(tmp_path / "join.sqlite", max_wait=100)
    store.commit({"metric_log.csv": 10})
    assert not store.changed({})
    assert not store.changed({"metric_log.csv": 10})
    assert store.changed({"metric_log.csv": 11})
    assert store.changed({"orphans.csv": 0})  # never committed
    store.save_truth_batch("b", b"body", b"digest", 1.0, b"", 0, None)
    assert store.changed({})
    store.commit({"orphans.csv": 0})
    assert not store.changed({"metric_log.csv": 10, "orphans.csv": 0})
    store.truth_batch("b")  # a read changes nothing
    assert not store.changed({})
    store.close()


def _sqlite_steps(store: JoinStore, call: Callable[[], object]) -> int:
    """SQLite virtual-machine instructions `call` runs on the store, in hundreds: a count of
    work, not a timing."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    store._db.set_progress_handler(count, 100)
    try:
        call()
    finally:
        store._db.set_progress_handler(None, 100)
    return steps


def test_pending_counts_and_expiry_do_not_read_every_joined_batch(tmp_path: Path) -> None:
    """The store keeps an hour of joined batches to recognise redeliveries (a great many of
    each kind). The pending gauges, read every second on the metric's event
    loop, and the expiry sweep must touch what waits or expires, not all of them."""
    from mlmon.join.store import StoredPredictionBatch

    store = JoinStore(tmp_path / "join.sqlite", max_wait=3600.0)
    for i in range(20_000):
        store.save_truth_batch(f"b{i}", b"body", b"digest", 1000.0 + i, b"", 0, 1000.0 + i)
        stored = StoredPredictionBatch("m", "1", b"", b"digest", 1000.0 + i)
        store.save_prediction_batch(f"b{i}", stored, 6, 1000.0 + i)
    store.save_truth_batch("late", b"body", b"digest", 30_000.0, b"\0\0\0\0", 3, None)
    store.commit({})
    assert store.pending() == {"y_true": 3, "y_pred": 0}
    assert _sqlite_steps(store, store.pending) < 20
    # Nothing is old enough to expire yet: the sweep finds that without reading every row.
    assert _sqlite_steps(store, lambda: store.expire_batches(1000.0 + 3600.0)) < 20
    truths, predictions = store.expire_batches(30_000.0 + 3601.0)  # now everything expires
    assert [t.arrived_at for t in truths] == [30_000.0]
    assert predictions == []
    store.close()
