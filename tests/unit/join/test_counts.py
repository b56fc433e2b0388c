"""Predictions counted per model and bucket of event time: exactly once, committed or rolled
back with the store's turn, whichever join path and order the halves take."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mlmon.join.batches import BatchJoin
from mlmon.join.counts import (
    BUCKET_SECONDS,
    NO_TIME,
    STORE_FILE,
    PredictedCounts,
    read_estimated,
    read_predicted,
)
from mlmon.join.held import Held
from mlmon.join.joined import Joined
from mlmon.join.records import Outcome, RecordJoin
from mlmon.join.store import JoinStore
from tests.unit.join.test_batches import half

T0 = 1_700_000_100.0  # a multiple of BUCKET_SECONDS


def _expected(models: list[str], stamps: list[float | None]) -> dict[tuple[str, int], int]:
    """The counts, one row at a time in plain Python."""
    return dict(
        Counter(
            (
                m,
                NO_TIME
                if s is None or math.isnan(s)
                else math.floor(s / BUCKET_SECONDS) * BUCKET_SECONDS,
            )
            for m, s in zip(models, stamps, strict=True)
        )
    )


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.one_of(st.none(), st.floats(T0 - 1e5, T0 + 1e5)),
        ),
        max_size=60,
    ),
    st.sets(st.integers(0, 59)),
)
def test_rows_grouped_by_model_and_bucket_as_one_by_one(
    rows: list[tuple[str, float | None]], skip: set[int]
) -> None:
    models, stamps = [m for m, _ in rows], [s for _, s in rows]
    skip_list = sorted(i for i in skip if i < len(rows))
    counts = PredictedCounts()
    counts.add_rows(models, stamps, skip=skip_list)
    kept = [i for i in range(len(rows)) if i not in skip]
    assert counts.counts() == _expected([models[i] for i in kept], [stamps[i] for i in kept])


def test_a_batch_adds_to_what_the_turn_counted() -> None:
    counts = PredictedCounts()
    counts.add("m", np.array([T0, T0 + 1, np.nan]))
    counts.add("m", np.array([T0 + 299, T0 + 300]))
    assert counts.counts() == {("m", int(T0)): 3, ("m", int(T0) + 300): 1, ("m", NO_TIME): 1}


def _store(tmp_path: Path) -> JoinStore:
    return JoinStore(tmp_path / STORE_FILE, max_wait=1e9)


def _predict(
    join: RecordJoin, keys: list[str], stamps: list[float | None], held: Held | None = None
) -> Outcome:
    """Model m's predictions of `keys` (all 1.0: the same again is a duplicate)."""
    n = len(keys)
    held = held or Held([], 0.0)
    return join.offer_predictions(keys, [1.0] * n, ["m"] * n, ["1"] * n, stamps, 0.0, held)


def _label(join: RecordJoin, keys: list[str]) -> None:
    join.offer_truths(keys, [1.0] * len(keys), [None] * len(keys), 1.0, Held([], 0.0))


def test_counts_are_committed_and_rolled_back_with_the_turn(tmp_path: Path) -> None:
    assert read_predicted(tmp_path) is None  # no store yet: unknown
    store = _store(tmp_path)
    join = RecordJoin(store)
    _label(join, ["r1", "r2"])
    _predict(join, ["r1"], [T0 + 5])
    assert read_predicted(tmp_path) == {}  # not committed yet
    assert store.changed({})
    store.commit({})
    assert read_predicted(tmp_path) == {"m": {int(T0): 1}}
    _predict(join, ["r2"], [T0 + 6])
    store.rollback()  # the turn failed: its count goes with its rows
    assert not store.predicted
    store.commit({})
    assert read_predicted(tmp_path) == {"m": {int(T0): 1}}
    store.close()


def test_a_redelivered_prediction_counts_once_whatever_it_met(tmp_path: Path) -> None:
    store = _store(tmp_path)
    join = RecordJoin(store)
    keys = ["r1", "r2", "r3"]
    stamps: list[float | None] = [T0, T0 + 400, None]
    first = Held([], 0.0)
    _predict(join, keys, stamps, first)
    store.commit({})
    assert read_predicted(tmp_path) == {}  # waiting in memory only: a crash would lose them
    _label(join, ["r1"])  # r1 taken from memory
    join.persist(first)  # r2, r3 to disk, as at a release
    store.commit({})
    counted = {"m": {int(T0): 1, int(T0) + 300: 1, NO_TIME: 1}}
    assert read_predicted(tmp_path) == counted
    # Redelivered: joined, waiting on disk or taken by a truth, it is a duplicate now.
    again = _predict(join, keys, stamps)
    _label(join, ["r2"])  # from disk: counted before
    store.commit({})
    assert again.duplicates == 3
    assert read_predicted(tmp_path) == counted
    store.close()


def test_a_prediction_held_in_memory_at_a_crash_counts_once_redelivered(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _predict(RecordJoin(store), ["r1"], [T0])
    store.commit({})  # the turn's commit; its delivery is still held, unacked
    store.close()  # the crash: memory lost, the broker redelivers
    store = _store(tmp_path)
    join = RecordJoin(store)
    _label(join, ["r1"])
    _predict(join, ["r1"], [T0])
    store.commit({})
    assert read_predicted(tmp_path) == {"m": {int(T0): 1}}
    store.close()


def test_batches_count_once_and_conflicts_not_at_all(tmp_path: Path) -> None:
    store = _store(tmp_path)
    join = BatchJoin(store)
    ids = ["r1", "r2", "r3"]
    held = Held([], 0.0)
    join.offer_prediction(half("b1", ids, [1.0, 2.0, 3.0], "m", sent=T0), held, Joined())
    join.offer_prediction(half("b2", ids, [1.0, 2.0, 3.0], "m", sent=T0 + 300), held, Joined())
    join.offer_truth(half("b1", ids, [1.0, 2.0, 3.0], at=1.0), Held([], 0.0), Joined())
    join.persist(held)  # b2 waits on disk
    store.commit({})
    counted = {"m": {int(T0): 3, int(T0) + 300: 3}}
    assert read_predicted(tmp_path) == counted
    for batch, sent in (("b1", T0), ("b2", T0 + 300)):  # the same batches again
        repeat = join.offer_prediction(
            half(batch, ids, [1.0, 2.0, 3.0], "m", sent=sent), held, Joined()
        )
        assert repeat.duplicates == 3
    changed = [9.0, 2.0, 3.0]  # b1 again, with another body: a conflict
    conflict = join.offer_prediction(half("b1", ids, changed, "m", sent=T0), held, Joined())
    assert conflict.conflict is not None
    store.commit({})
    assert read_predicted(tmp_path) == counted
    store.close()


def test_a_reader_sees_the_last_commit_while_the_writer_is_in_a_turn(tmp_path: Path) -> None:
    store = _store(tmp_path)
    join = RecordJoin(store)
    _label(join, ["r1", "r2"])
    _predict(join, ["r1"], [T0])
    store.commit({})
    _predict(join, ["r2"], [T0])
    store.predicted.save(store._db)  # written, not committed: as inside `commit`
    assert read_predicted(tmp_path) == {"m": {int(T0): 1}}
    store.commit({})
    assert read_predicted(tmp_path) == {"m": {int(T0): 2}}
    store.close()


def _cells(value: float) -> np.ndarray:
    return np.array([1.0, value, value * value])


def test_estimate_cells_count_once_with_their_predictions(tmp_path: Path) -> None:
    """A prediction's cells are added where its count is, whichever path it takes: joined at
    once, taken from memory by its truth, persisted at a release; never again redelivered."""
    store = _store(tmp_path)
    join = RecordJoin(store)
    keys = ["r1", "r2", "r3"]
    cells = [_cells(1.0), _cells(2.0), None]  # r3 not estimated
    first = Held([], 0.0)
    join.offer_predictions(keys, [1.0] * 3, ["m"] * 3, ["1"] * 3, [T0] * 3, 0.0, first, None, cells)
    store.commit({})
    assert read_estimated(tmp_path) == {}  # waiting in memory: not counted
    _label(join, ["r1"])  # from memory
    join.persist(first)  # r2, r3 to disk
    store.commit({})
    again = join.offer_predictions(
        keys, [1.0] * 3, ["m"] * 3, ["1"] * 3, [T0] * 3, 0.0, Held([], 0.0), None, cells
    )
    store.commit({})
    assert again.duplicates == 3
    _label(join, ["r4"])
    join.offer_predictions(
        ["r4"], [1.0], ["m"], ["1"], [T0 + 300], 0.0, Held([], 0.0), None, [_cells(4.0)]
    )  # joined at once
    store.commit({})
    estimated = read_estimated(tmp_path)
    np.testing.assert_allclose(estimated["m"][int(T0)], [2.0, 3.0, 5.0])
    np.testing.assert_allclose(estimated["m"][int(T0) + 300], [1.0, 4.0, 16.0])
    assert read_predicted(tmp_path) == {"m": {int(T0): 3, int(T0) + 300: 1}}
    join.offer_predictions(
        ["r5"], [1.0], ["m"], ["1"], [T0], 0.0, Held([], 0.0), None, [_cells(9.0)]
    )
    _label(join, ["r5"])
    store.rollback()  # the turn failed: its cells go with its rows
    store.commit({})
    np.testing.assert_allclose(read_estimated(tmp_path)["m"][int(T0)], [2.0, 3.0, 5.0])
    store.close()


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.one_of(st.just(math.nan), st.floats(T0, T0 + 2000)),
            st.booleans(),
        ),
        max_size=40,
    ),
    st.sets(st.integers(0, 39)),
)
def test_cells_sum_per_model_and_bucket_as_one_by_one(
    rows: list[tuple[str, float, bool]], skip: set[int]
) -> None:
    models, stamps = [m for m, _, _ in rows], [s for _, s, _ in rows]
    cells = [_cells(float(i)) if estimated else None for i, (_, _, estimated) in enumerate(rows)]
    skip_list = sorted(i for i in skip if i < len(rows))
    counts = PredictedCounts()
    counts.add_rows(models, stamps, skip=skip_list, cells=cells)
    expected: dict[tuple[str, int], np.ndarray] = {}
    for i, (model, stamp, estimated) in enumerate(rows):
        if i in skip or not estimated or math.isnan(stamp):
            continue  # no event time: counted in NO_TIME, its cells in no bucket
        key = (model, math.floor(stamp / BUCKET_SECONDS) * BUCKET_SECONDS)
        expected[key] = expected.get(key, np.zeros(3)) + _cells(float(i))
    got = counts.cells()
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value)


def test_old_counts_and_cells_merge_into_the_buckets_a_reader_shows(tmp_path: Path) -> None:
    """Compacted, the tables hold few rows, and ByEventTime shows the same buckets from them
    as from the fine rows (counts and estimates alike)."""
    from mlmon.monitoring.quality.by_time import ByEventTime

    store = _store(tmp_path)
    day = 86_400
    starts = [int(T0) + k * BUCKET_SECONDS for k in range(0, 10 * day // BUCKET_SECONDS, 7)]
    for start in starts:  # cells that differ per start: a wrong merge changes the estimates
        cells = np.array([_cells(float(start % 97))] * 2)
        store.predicted.add("m", np.array([start + 1.0, start + 2.0]), cells)
    store.predicted.add("m", np.array([np.nan]))  # no event time: never merged
    store.commit({})

    def shown() -> list[tuple[int, int, int | None, float | None]]:
        by_time = ByEventTime()
        by_time.set_predicted(read_predicted(tmp_path), read_estimated(tmp_path))
        buckets = by_time.buckets()
        return [(b["start"], b["width"], b["predicted"], b.get("est_mae")) for b in buckets]

    before = shown()
    fine_rows = len(read_predicted(tmp_path)["m"])
    store.expire(T0 + 20 * day)  # the sweep compacts
    store.commit({})
    after = read_predicted(tmp_path)
    assert len(after["m"]) < fine_rows / 2
    latest = max(starts)
    for start in after["m"]:  # each row as coarse as its age: 5 minutes, hours, days
        if start >= 0 and start + BUCKET_SECONDS < latest - day:
            assert start % 3_600 == 0
        if start >= 0 and start + 3_600 < latest - 7 * day:
            assert start % day == 0
    assert after["m"][NO_TIME] == 1
    assert sum(after["m"].values()) == 2 * len(starts) + 1
    assert shown() == before
    assert sum(c[0] for c in read_estimated(tmp_path)["m"].values()) == 2 * len(starts)
    store.close()


def test_a_row_takes_its_predictions_event_time_not_its_labels(tmp_path: Path) -> None:
    """A label with an event time of its own (hours later) joins into its prediction's bucket,
    where the prediction was counted: completeness never exceeds 1. Record and batch paths."""
    store = _store(tmp_path)
    join = RecordJoin(store)
    join.offer_truths(["r1"], [1.0], [T0 + 7_200], 1.0, Held([], 0.0))
    outcome = _predict(join, ["r1", "r2"], [T0 + 5, None])
    later = join.offer_truths(["r2"], [1.0], [T0 + 3_600], 1.0, Held([], 0.0))
    rows = [part.sent_at.tolist() for part in outcome.joined.parts()]
    assert rows == [[T0 + 5]]
    # r2's prediction had no event time: its label's stands in
    assert [part.sent_at.tolist() for part in later.joined.parts()] == [[T0 + 3_600]]
    store.close()
    truth = half("b1", ["a", "b"], [1.0, 2.0], sent=T0 + 7_200)
    prediction = half("b1", ["a", "b"], [1.0, 2.0], model="m")
    prediction.sent_at[0] = T0 + 1  # b: no event time of its own
    joined = Joined()
    batches = BatchJoin(_store(tmp_path / "batches"))
    batches.offer_truth(truth, Held([], 0.0), joined)
    batches.offer_prediction(prediction, Held([], 0.0), joined)
    (part,) = joined.parts()
    assert part.sent_at.tolist() == [T0 + 1, T0 + 7_200]  # the label's only where none
