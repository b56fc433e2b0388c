"""The whole-batch join: one pair per (record, model) whatever the order, repeats and restarts,
the same guarantees as the record-by-record join, batch by batch."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mlmon.join.batches import BatchHalf, BatchJoin, batch_keys, digest
from mlmon.join.held import Held
from mlmon.join.joined import Joined
from mlmon.join.store import JoinStore
from mlmon.wire import encode_batch
from tests.unit.join.helpers import errors


def half(
    batch: str,
    ids: list[str],
    values: list[float],
    model: str = "",
    at: float = 0.0,
    sent: float = math.nan,
) -> BatchHalf:
    array = np.array(values, dtype=np.float64)
    stamps = np.full(len(ids), sent)
    body = encode_batch(ids, array, stamps)
    return BatchHalf(batch, list(ids), array, stamps, body, digest(body), at, model, "1")


IDS = ["r-1", "r-2", "r-3"]
TRUTHS = [10.0, 20.0, 30.0]
PREDICTIONS = [11.0, 18.0, 30.5]


def new_join() -> BatchJoin:
    return BatchJoin(JoinStore(":memory:", max_wait=100.0))


def test_truths_then_predictions_join_as_a_whole() -> None:
    join, joined = new_join(), Joined()
    truth_held = Held([], 0.0)
    waits = join.offer_truth(half("b", IDS, TRUTHS, at=1.0, sent=0.5), truth_held, joined)
    assert waits.duplicates == 0
    assert waits.conflict is None
    assert truth_held.waiting == 1
    assert len(joined) == 0
    assert join.waiting() == {"y_true": 3, "y_pred": 0}
    outcome = join.offer_prediction(half("b", IDS, PREDICTIONS, "m", at=1.25), Held([], 0), joined)
    assert not outcome.orphans
    assert outcome.conflict is None
    assert outcome.duplicates == 0
    assert truth_held.waiting == 0  # its delivery may be acked now
    assert joined.keys == IDS
    assert errors(joined) == [1.0, 2.0, 0.5]
    assert joined.models == ["m"] * 3
    assert joined.sent_at == [0.5] * 3
    assert joined.joined_at == [1.25] * 3
    assert joined.column("label_delay").tolist() == [-0.25] * 3
    assert join.store.pending() == {"y_true": 0, "y_pred": 0}


def test_predictions_first_waiting_on_disk_then_truths() -> None:
    """A batch released before its partner came waits in the store, and joins from there."""
    join, joined = new_join(), Joined()
    held = Held([], 0.0)
    join.offer_prediction(half("b", IDS, PREDICTIONS, "m"), held, joined)
    join.persist(held)
    assert held.waiting == 0
    assert join.waiting() == {"y_true": 0, "y_pred": 0}
    assert join.store.pending() == {"y_true": 0, "y_pred": 3}
    join.offer_truth(half("b", IDS, TRUTHS), Held([], 0.0), joined)
    assert errors(joined) == [1.0, 2.0, 0.5]
    assert join.store.pending() == {"y_true": 0, "y_pred": 0}


def test_a_later_model_meets_the_stored_truths() -> None:
    join, joined = new_join(), Joined()
    join.offer_truth(half("b", IDS, TRUTHS), Held([], 0.0), joined)
    join.offer_prediction(half("b", IDS, PREDICTIONS, "champion"), Held([], 0.0), joined)
    join.offer_prediction(half("b", IDS, [0.0, 0.0, 0.0], "challenger"), Held([], 0.0), joined)
    assert joined.models == ["champion"] * 3 + ["challenger"] * 3
    assert errors(joined)[3:] == TRUTHS


def test_a_redelivered_batch_counts_as_duplicates_and_another_body_is_refused() -> None:
    join, joined = new_join(), Joined()
    for held in (Held([], 0.0), Held([], 0.0)):  # the second copy meets the first in memory
        outcome = join.offer_truth(half("b", IDS, TRUTHS), held, joined)
    assert outcome.duplicates == 3
    join.offer_prediction(half("b", IDS, PREDICTIONS, "m"), Held([], 0.0), joined)
    again = join.offer_truth(half("b", IDS, TRUTHS), Held([], 0.0), joined)  # now from disk
    assert again.duplicates == 3
    twice = join.offer_prediction(half("b", IDS, PREDICTIONS, "m"), Held([], 0.0), joined)
    assert twice.duplicates == 3
    other = join.offer_prediction(half("b", IDS, [1.0, 2.0, 3.0], "m"), Held([], 0.0), joined)
    assert other.conflict is not None
    assert "'b'" in other.conflict
    assert other.duplicates == 0
    assert len(joined) == 3


def test_rows_missing_from_either_side_become_orphans() -> None:
    """The model refused r-2 (its features were NaN): its true value waits, unmatched, and
    expires as an orphan. A prediction whose true value was refused is an orphan at once."""
    join, joined = new_join(), Joined()
    join.offer_truth(half("b", IDS, TRUTHS, at=5.0), Held([], 0.0), joined)
    outcome = join.offer_prediction(
        half("b", ["r-1", "r-3", "r-9"], [11.0, 30.5, 1.0], "m"), Held([], 0.0), joined
    )
    assert joined.keys == ["r-1", "r-3"]
    assert errors(joined) == [1.0, 0.5]
    assert [(o.key, o.kind, o.value, o.model) for o in outcome.orphans] == [
        ("r-9", "y_pred", 1.0, "m")
    ]
    assert join.store.pending() == {"y_true": 1, "y_pred": 0}
    # A second model that did predict r-2 still meets it.
    join.offer_prediction(half("b", IDS, [0.0, 0.0, 0.0], "other"), Held([], 0.0), joined)
    assert join.store.pending() == {"y_true": 0, "y_pred": 0}
    assert join.expire(now=1e6) == []


def test_unmatched_batches_expire_row_by_row() -> None:
    join, joined = new_join(), Joined()
    truths = Held([], 0.0)
    join.offer_truth(half("t", IDS, TRUTHS, at=1.0), truths, joined)
    join.persist(truths)
    predicted = Held([], 0.0)
    join.offer_prediction(half("p", ["q-1"], [7.0], "m", at=2.0), predicted, joined)
    join.persist(predicted)
    assert join.expire(now=50.0) == []  # not yet
    orphans = join.expire(now=200.0)
    assert sorted((o.key, o.kind, o.value, o.model) for o in orphans) == [
        ("q-1", "y_pred", 7.0, "m"),
        ("r-1", "y_true", 10.0, ""),
        ("r-2", "y_true", 20.0, ""),
        ("r-3", "y_true", 30.0, ""),
    ]
    assert join.store.pending() == {"y_true": 0, "y_pred": 0}


def test_batch_keys() -> None:
    assert batch_keys(["a", "b"]) == ["a", "b"]
    assert batch_keys([1, 2.0, 2.5]) == ["1", "2", "2.5"]
    assert batch_keys(["a", "b", "a"]) is None  # joined record by record, the repeat counted
    assert batch_keys([2, 2.0]) is None


def test_joined_extend_keeps_unknown_send_times_as_none() -> None:
    joined = Joined()
    joined.extend(
        ["a", "b"], np.array([1.0, 2.0]), np.array([1.5, 2.0]), "m", "1",
        np.array([3.0, math.nan]), 4.0, 0.5,
    )  # fmt: skip
    assert joined.sent_at == [3.0, None]
    assert errors(joined) == [0.5, 0.0]


events = st.lists(
    st.tuples(
        st.sampled_from(["t", "a", "b"]),  # true values, or predictions of model a or b
        st.integers(0, 4),  # which batch
        st.booleans(),  # release every waiting batch to disk after this one
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(events)
def test_any_interleaving_yields_one_pair_per_record_and_model(
    offered: list[tuple[str, int, bool]],
) -> None:
    """Whatever the order and repetition of batches, and whenever waiting batches move from
    memory to disk, each (record, model) whose both batches arrived joins exactly once with
    the right values; repeats are counted; what waits is what never met a partner."""
    store = JoinStore(":memory:", max_wait=1e9)
    join, joined = BatchJoin(store), Joined()
    held: list[Held] = []
    duplicates = 0
    for kind, number, release in offered:
        ids = [f"{number}-{row}" for row in range(3)]
        this = Held([], 0.0)
        if kind == "t":
            outcome = join.offer_truth(half(f"b{number}", ids, [number] * 3), this, joined)
        else:
            values = [number + (0.5 if kind == "a" else 0.25)] * 3
            outcome = join.offer_prediction(half(f"b{number}", ids, values, kind), this, joined)
        assert outcome.conflict is None
        assert not outcome.orphans
        duplicates += outcome.duplicates
        held.append(this)
        if release:
            for one in held:
                join.persist(one)
                assert one.waiting == 0
            held.clear()
            store.commit({})
    pairs = sorted(zip(joined.keys, joined.models, strict=True))
    truths = {n for kind, n, _ in offered if kind == "t"}
    expected = sorted(
        (f"{n}-{row}", model)
        for model in "ab"
        for n in truths & {n for kind, n, _ in offered if kind == model}
        for row in range(3)
    )
    assert pairs == expected
    assert all(e == (0.5 if m == "a" else 0.25) for e, m in zip(
        errors(joined), joined.models, strict=True
    ))  # fmt: skip
    distinct = {(kind, n) for kind, n, _ in offered}
    assert duplicates == 3 * (len(offered) - len(distinct))
    waiting = {**join.waiting()}
    on_disk = store.pending()
    truths_waiting = {n for n in truths if not any((m, n) in distinct for m in "ab")}
    predictions_waiting = {(m, n) for m, n in distinct if m != "t" and n not in truths}
    assert waiting["y_true"] + on_disk["y_true"] == 3 * len(truths_waiting)
    assert waiting["y_pred"] + on_disk["y_pred"] == 3 * len(predictions_waiting)


def test_a_row_cut_out_of_a_batch_no_longer_names_it() -> None:
    """A dead-lettered row replayed later must not pass for its former batch."""
    from mlmon.bus import Delivery
    from mlmon.services.dead_letters import Rejected
    from mlmon.wire import BATCH, HEADER_BATCH, HEADER_MODEL, decode_batch

    records = decode_batch(half("b", IDS, TRUTHS).body)
    delivery = Delivery("y_true", b"", {HEADER_BATCH: "b", HEADER_MODEL: "m"}, False, BATCH)
    rejected = Rejected.row(delivery, records, 1, "why")
    assert rejected.headers == {HEADER_MODEL: "m"}
    assert decode_batch(rejected.body).ids == ["r-2"]


def test_true_values_stay_for_a_late_model_as_long_as_models_keep_meeting_them() -> None:
    """As with the record-by-record join (joined pairs are kept max_wait after their join), a
    true values' batch stays max_wait after a model last met it, not only after it came."""
    join, joined = new_join(), Joined()  # max_wait 100
    join.offer_truth(half("b", IDS, TRUTHS, at=0.0), Held([], 0.0), joined)
    join.offer_prediction(half("b", IDS, PREDICTIONS, "fast", at=90.0), Held([], 0.0), joined)
    assert join.expire(now=120.0) == []
    join.offer_prediction(half("b", IDS, [0.0] * 3, "lagging", at=150.0), Held([], 0.0), joined)
    assert joined.models == ["fast"] * 3 + ["lagging"] * 3
    assert join.expire(now=251.0) == []  # all matched: nothing orphaned, and forgotten
    assert join.store.truth_batch("b") is None
