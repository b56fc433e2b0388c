"""The record join: any interleaving of halves yields exactly one pair per (id, model), whether
the halves wait in memory (RecordJoin) or on disk (JoinStore)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mlmon.join.held import Held
from mlmon.join.records import RecordJoin
from mlmon.join.store import JoinStore
from mlmon.wire import Y_PRED, Y_TRUE
from tests.unit.join.helpers import Join, errors, verdict


def test_truth_first_then_prediction_joins() -> None:
    """A prediction arriving after its true value joins at once, from memory or from disk."""
    for on_disk in (False, True):
        join = Join(JoinStore(":memory:", max_wait=60), on_disk)
        assert verdict(join.truth("a", 10.0)) == "pending"
        joined = join.prediction("a", 7.5).joined
        assert (
            joined.keys,
            joined.column(Y_TRUE).tolist(),
            joined.column(Y_PRED).tolist(),
            errors(joined),
        ) == (
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


def test_pending_counts_halves_in_memory_and_on_disk() -> None:
    join = Join(JoinStore(":memory:", max_wait=60))
    join.truth("t", 1.0)
    join.prediction("p", 1.0)
    assert join.join.pending() == {"y_true": 1, "y_pred": 1}
    assert join.store.pending() == {"y_true": 0, "y_pred": 0}
    join.persist_all()
    assert join.join.pending() == {"y_true": 1, "y_pred": 1}
    assert join.store.pending() == {"y_true": 1, "y_pred": 1}


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
    batched = RecordJoin(JoinStore(":memory:", 1e9))
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
        pairs = zip(outcome.joined.keys, outcome.joined.column(Y_PRED).tolist(), strict=True)
        assert sorted(pairs) == sorted(
            (k, v)
            for one in expected
            for k, v in zip(one.joined.keys, one.joined.column(Y_PRED).tolist(), strict=True)
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
    assert late.column("label_delay").tolist() == [15.0]
    assert early.column("label_delay").tolist() == [-2.0]
