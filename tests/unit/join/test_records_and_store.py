"""The join: any interleaving of halves yields exactly one pair per (id, model), whether the
halves wait in memory (HotJoin) or on disk (JoinStore)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mlmon.join.joined import Joined
from mlmon.join.records import Held, HotJoin, Outcome
from mlmon.join.store import JoinStore


class Join:
    """A HotJoin offered one half at a time; `on_disk` persists each half's batch at once."""

    def __init__(self, store: JoinStore, on_disk: bool = False) -> None:
        self.store = store
        self.join = HotJoin(store)
        self.on_disk = on_disk
        self.held: list[Held] = []

    def truth(self, key: str, value: float, at: float = 0.0) -> Outcome:
        held = Held([], 0.0)
        outcome = self.join.offer_truths([key], [value], [None], at, held)
        return self._settle(held, outcome)

    def prediction(self, key: str, value: float, model: str = "m", at: float = 0.0) -> Outcome:
        held = Held([], 0.0)
        outcome = self.join.offer_predictions([key], [value], [model], ["1"], [None], at, held)
        return self._settle(held, outcome)

    def persist_all(self) -> None:
        for held in self.held:
            self.join.persist(held)
        self.held.clear()

    def _settle(self, held: Held, outcome: Outcome) -> Outcome:
        if self.on_disk:
            self.join.persist(held)
        else:
            self.held.append(held)
        return outcome


def verdict(outcome: Outcome) -> str:
    if outcome.conflicts:
        return "conflict"
    if outcome.duplicates:
        return "duplicate"
    return "joined" if outcome.joined else "pending"


def errors(joined: Joined) -> list[float]:
    return joined.absolute_errors()


def test_truth_first_then_prediction_joins() -> None:
    """A prediction arriving after its true value joins at once, from memory or from disk."""
    for on_disk in (False, True):
        join = Join(JoinStore(":memory:", max_wait=60), on_disk)
        assert verdict(join.truth("a", 10.0)) == "pending"
        joined = join.prediction("a", 7.5).joined
        assert (joined.keys, joined.y_true, joined.y_pred, errors(joined)) == (
            ["a"],
            [10.0],
            [7.5],
            [2.5],
        )


def test_prediction_first_then_truth_joins() -> None:
    """A true value arriving after its prediction joins at once."""
    for on_disk in (False, True):
        join = Join(JoinStore(":memory:", max_wait=60), on_disk)
        assert verdict(join.prediction("a", 7.5)) == "pending"
        assert errors(join.truth("a", 10.0).joined) == [2.5]


def test_repeats_are_duplicates_and_different_values_conflicts() -> None:
    """The same half again is a duplicate; the same id with another value is a conflict."""
    for on_disk in (False, True):
        join = Join(JoinStore(":memory:", max_wait=60), on_disk)
        join.truth("a", 1.0)
        join.prediction("a", 2.0)
        join.persist_all()
        assert verdict(join.truth("a", 1.0)) == "duplicate"
        assert verdict(join.prediction("a", 2.0)) == "duplicate"
        conflict = join.truth("a", 9.0)
        assert verdict(conflict) == "conflict"
        assert "duplicate id 'a'" in conflict.conflicts[0][1]
        assert verdict(join.prediction("a", 3.0)) == "conflict"
        join.prediction("b", 1.0)
        assert verdict(join.prediction("b", 4.0)) == "conflict"
        join.truth("c", 1.0)
        assert verdict(join.truth("c", 1.0)) == "duplicate"
        assert verdict(join.truth("c", 5.0)) == "conflict"


def test_one_truth_meets_every_model() -> None:
    """Two models' predictions for one id each join the one true value once, and a third
    model's, after the truth joined and left memory, still meets it."""
    for on_disk in (False, True):
        join = Join(JoinStore(":memory:", max_wait=60), on_disk)
        join.prediction("a", 1.0, model="champion")
        join.prediction("a", 3.0, model="challenger")
        joined = join.truth("a", 2.0).joined
        assert sorted(zip(joined.models, errors(joined), strict=True)) == [
            ("challenger", 1.0),
            ("champion", 1.0),
        ]
        join.persist_all()
        assert errors(join.prediction("a", 2.5, model="third").joined) == [0.5]


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


def test_pending_counts_halves_in_memory_and_on_disk() -> None:
    join = Join(JoinStore(":memory:", max_wait=60))
    join.truth("t", 1.0)
    join.prediction("p", 1.0)
    assert join.join.pending() == {"y_true": 1, "y_pred": 1}
    assert join.store.pending() == {"y_true": 0, "y_pred": 0}
    join.persist_all()
    assert join.join.pending() == {"y_true": 1, "y_pred": 1}
    assert join.store.pending() == {"y_true": 1, "y_pred": 1}


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


halves = st.lists(st.tuples(st.sampled_from(["t", "p"]), st.integers(0, 15)), max_size=80)


@settings(max_examples=200, deadline=None)
@given(halves, st.integers(1, 10), st.integers(1, 10))
def test_any_interleaving_yields_one_pair_per_id(
    events: list[tuple[str, int]], every: int, persist_every: int
) -> None:
    """Whatever the order and repetition of halves, wherever commits fall and whenever
    waiting halves move from memory to disk, each id whose both halves arrived joins exactly
    once, with the right values."""
    store = JoinStore(":memory:", max_wait=1e9)
    join = Join(store)
    joined: list[str] = []
    for step, (kind, number) in enumerate(events):
        key = f"id{number}"
        if kind == "t":
            outcome = join.truth(key, float(number))
        else:
            outcome = join.prediction(key, number + 0.5)
        assert not outcome.conflicts
        assert errors(outcome.joined) == [0.5] * len(outcome.joined)
        joined += outcome.joined.keys
        if step % persist_every == 0:
            join.persist_all()
        if step % every == 0:
            store.commit({})
    both = {f"id{n}" for k, n in events if k == "t"} & {f"id{n}" for k, n in events if k == "p"}
    assert sorted(joined) == sorted(both)
    waiting = {f"id{n}" for _, n in events} - both
    assert sum(join.join.pending().values()) == len(waiting)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["t", "p"]),
            st.lists(
                st.tuples(st.integers(0, 8), st.sampled_from(["a", "b"]), st.booleans()),
                max_size=12,
            ),
            st.booleans(),
        ),
        max_size=12,
    )
)
def test_batches_decide_exactly_as_one_by_one(
    batches: list[tuple[str, list[tuple[int, str, bool]], bool]],
) -> None:
    """Offering a batch gives the same verdicts, pairs and pending counts as offering its
    halves one at a time, including repeats and conflicts inside one batch, whether waiting
    halves stay in memory or go to disk."""
    batched = HotJoin(JoinStore(":memory:", 1e9))
    single = Join(JoinStore(":memory:", 1e9))
    for kind, items, to_disk in batches:
        held = Held([], 0.0)
        keys = [f"k{n}" for n, _, _ in items]
        if kind == "t":
            values = [float(n) + (0.25 if odd else 0) for n, _, odd in items]
            expected = [single.truth(k, v) for k, v in zip(keys, values, strict=True)]
            outcome = batched.offer_truths(keys, values, [None] * len(keys), 0.0, held)
        else:
            values = [n + (0.75 if odd else 0.5) for n, _, odd in items]
            models = [m for _, m, _ in items]
            expected = [
                single.prediction(k, v, model=m)
                for k, v, m in zip(keys, values, models, strict=True)
            ]
            outcome = batched.offer_predictions(
                keys, values, models, ["1"] * len(keys), [None] * len(keys), 0.0, held
            )
        assert [i for i, _ in outcome.conflicts] == [
            i for i, one in enumerate(expected) if one.conflicts
        ]
        assert outcome.duplicates == sum(one.duplicates for one in expected)
        assert outcome.joined.keys == [k for one in expected for k in one.joined.keys]
        # One true value meeting several models yields their pairs in no promised order.
        assert sorted(zip(outcome.joined.keys, outcome.joined.y_pred, strict=True)) == sorted(
            (k, v)
            for one in expected
            for k, v in zip(one.joined.keys, one.joined.y_pred, strict=True)
        )
        if to_disk:
            batched.persist(held)
            single.persist_all()
        else:
            single.held.append(held)  # persisted together with the single side's later
    assert batched.pending() == single.join.pending()


def test_pairs_carry_the_label_delay() -> None:
    """Delay = the true value's arrival minus the prediction's; negative when it came first."""
    join = Join(JoinStore(":memory:", max_wait=1e9))
    join.prediction("late", 1.0, at=10.0)
    late = join.truth("late", 2.0, at=25.0).joined
    join.truth("early", 2.0, at=3.0)
    early = join.prediction("early", 1.0, at=5.0).joined
    assert late.label_delay == [15.0]
    assert early.label_delay == [-2.0]


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
    """The store keeps an hour of joined batches to recognise redeliveries (~540,000 of each
    kind at 1,000 records/s). The pending gauges, read every second on the metric's event
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
