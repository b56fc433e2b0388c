"""The durable join: any interleaving of halves yields exactly one pair per (id, model)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mlmon.join_store import JoinStore, Prediction, Truth, Verdict


def truth(key: str, value: float, at: float = 0.0) -> Truth:
    return Truth(key, value, sent_at=None, arrived_at=at)


def prediction(key: str, value: float, model: str = "m", at: float = 0.0) -> Prediction:
    return Prediction(key, value, model, "1", sent_at=None, arrived_at=at)


def test_truth_first_then_prediction_joins() -> None:
    """A prediction arriving after its true value joins at once."""
    store = JoinStore(":memory:", max_wait=60)
    assert store.offer_truth(truth("a", 10.0)).verdict is Verdict.PENDING
    offer = store.offer_prediction(prediction("a", 7.5))
    assert offer.verdict is Verdict.JOINED
    (pair,) = offer.pairs
    assert (pair.key, pair.y_true, pair.y_pred, pair.absolute_error) == ("a", 10.0, 7.5, 2.5)


def test_prediction_first_then_truth_joins() -> None:
    """A true value arriving after its prediction joins at once."""
    store = JoinStore(":memory:", max_wait=60)
    assert store.offer_prediction(prediction("a", 7.5)).verdict is Verdict.PENDING
    assert store.offer_truth(truth("a", 10.0)).pairs[0].absolute_error == 2.5


def test_repeats_are_duplicates_and_different_values_conflicts() -> None:
    """The same half again is a duplicate; the same id with another value is a conflict."""
    store = JoinStore(":memory:", max_wait=60)
    store.offer_truth(truth("a", 1.0))
    store.offer_prediction(prediction("a", 2.0))
    assert store.offer_truth(truth("a", 1.0)).verdict is Verdict.DUPLICATE
    assert store.offer_prediction(prediction("a", 2.0)).verdict is Verdict.DUPLICATE
    conflict = store.offer_truth(truth("a", 9.0))
    assert conflict.verdict is Verdict.CONFLICT
    assert "duplicate id 'a'" in conflict.reason
    assert store.offer_prediction(prediction("a", 3.0)).verdict is Verdict.CONFLICT
    store.offer_prediction(prediction("b", 1.0))
    assert store.offer_prediction(prediction("b", 4.0)).verdict is Verdict.CONFLICT


def test_one_truth_meets_every_model() -> None:
    """Two models' predictions for one id each join the one true value once."""
    store = JoinStore(":memory:", max_wait=60)
    store.offer_prediction(prediction("a", 1.0, model="champion"))
    store.offer_prediction(prediction("a", 3.0, model="challenger"))
    pairs = store.offer_truth(truth("a", 2.0)).pairs
    assert sorted((p.model, p.absolute_error) for p in pairs) == [
        ("challenger", 1.0),
        ("champion", 1.0),
    ]
    late = store.offer_prediction(prediction("a", 2.5, model="third"))
    assert late.pairs[0].absolute_error == 0.5


def test_orphans_expire_after_max_wait() -> None:
    """Halves older than max_wait are returned as orphans once and forgotten."""
    store = JoinStore(":memory:", max_wait=10)
    store.offer_truth(truth("t", 1.0, at=0))
    store.offer_prediction(prediction("p", 1.0, at=0))
    store.offer_truth(truth("young", 1.0, at=8))
    store.offer_truth(truth("matched", 1.0, at=0))
    store.offer_prediction(prediction("matched", 1.0, at=1))
    assert store.pending() == {"y_true": 2, "y_pred": 1}
    orphans = store.expire(now=11)
    assert sorted((o.kind, o.key) for o in orphans) == [("y_pred", "p"), ("y_true", "t")]
    assert store.expire(now=11) == []
    assert store.pending() == {"y_true": 1, "y_pred": 0}


def test_state_survives_a_restart_only_once_committed(tmp_path: Path) -> None:
    """Committed halves and offsets survive reopening; uncommitted ones vanish (a crash)."""
    path = tmp_path / "join.sqlite"
    store = JoinStore(path, max_wait=60)
    store.offer_truth(truth("kept", 1.0))
    store.commit({"metric_log.csv": 123})
    store.offer_truth(truth("lost", 1.0))
    store._db.close()  # a crash: no commit, no rollback
    reopened = JoinStore(path, max_wait=60)
    assert reopened.offset("metric_log.csv") == 123
    assert reopened.offer_prediction(prediction("kept", 0.5)).verdict is Verdict.JOINED
    assert reopened.offer_prediction(prediction("lost", 0.5)).verdict is Verdict.PENDING


halves = st.lists(st.tuples(st.sampled_from(["t", "p"]), st.integers(0, 15)), max_size=80)


@settings(max_examples=200, deadline=None)
@given(halves, st.integers(1, 10))
def test_any_interleaving_yields_one_pair_per_id(events: list[tuple[str, int]], every: int) -> None:
    """Whatever the order and repetition of halves, and wherever commits fall, each id whose
    both halves arrived joins exactly once, with the right values."""
    store = JoinStore(":memory:", max_wait=1e9)
    joined: list[str] = []
    for step, (kind, number) in enumerate(events):
        key = f"id{number}"
        if kind == "t":
            offer = store.offer_truth(truth(key, float(number)))
        else:
            offer = store.offer_prediction(prediction(key, number + 0.5))
        assert offer.verdict is not Verdict.CONFLICT
        for pair in offer.pairs:
            assert pair.absolute_error == 0.5
            joined.append(pair.key)
        if step % every == 0:
            store.commit({})
    both = {f"id{n}" for k, n in events if k == "t"} & {f"id{n}" for k, n in events if k == "p"}
    assert sorted(joined) == sorted(both)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["t", "p"]),
            st.lists(
                st.tuples(st.integers(0, 8), st.sampled_from(["a", "b"]), st.booleans()),
                max_size=12,
            ),
        ),
        max_size=12,
    )
)
def test_batches_decide_exactly_as_one_by_one(
    batches: list[tuple[str, list[tuple[int, str, bool]]]],
) -> None:
    """Offering a batch gives the same verdicts, pairs and final state as offering its halves
    one at a time, including repeats and conflicts inside one batch."""
    batched, single = JoinStore(":memory:", 1e9), JoinStore(":memory:", 1e9)
    for kind, items in batches:
        if kind == "t":
            halves = [truth(f"k{n}", float(n) + (0.25 if odd else 0)) for n, _, odd in items]
            expected = [single.offer_truth(h) for h in halves]
            assert batched.offer_truths(halves) == expected
        else:
            halves = [
                prediction(f"k{n}", n + (0.75 if odd else 0.5), model=m) for n, m, odd in items
            ]
            expected = [single.offer_prediction(h) for h in halves]
            assert batched.offer_predictions(halves) == expected
    assert batched.pending() == single.pending()


def test_pairs_carry_the_label_delay() -> None:
    """Delay = the true value's arrival minus the prediction's; negative when it came first."""
    store = JoinStore(":memory:", max_wait=1e9)
    store.offer_prediction(prediction("late", 1.0, at=10.0))
    (late,) = store.offer_truth(truth("late", 2.0, at=25.0)).pairs
    store.offer_truth(truth("early", 2.0, at=3.0))
    (early,) = store.offer_prediction(prediction("early", 1.0, at=5.0)).pairs
    assert late.label_delay == 15.0
    assert early.label_delay == -2.0
