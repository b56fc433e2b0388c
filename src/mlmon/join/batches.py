"""The join of whole batches: mlmon's own true values and predictions, batch by batch.

mlmon's features service sends each batch of feature vectors and the batch of their true
values under one batch id (header `x-mlmon-batch`, same ids in the same order), and a model
answers a features batch with one batch of predictions under that id. Joining those record by
record (the record join: a store look-up, a decision and a store row per record) cost most of
the metric service's time; here a predictions' batch meets its true values' batch as a whole:
one look-up by batch id, one comparison of the id lists, numpy for the values, one store row
per batch. The guarantees are the record join's, per batch:
- exactly once: a batch seen before (same id, same model, same body) counts as duplicates; the
  same batch id with another body is a conflict, refused whole;
- either order, any delay: a batch waits in memory while its delivery is held unacked, then on
  disk, and a later model's predictions still meet the true values (kept max_wait);
- predictions whose id is not in their true values' batch (that true value was refused) are
  orphans at once; true values no model matched (max_wait after they came or a model last met
  their batch), and predictions whose true values' batch never came (including one refused
  whole), expire as orphans; orphans are handed back row by row, for orphans.csv.
A batch is recognised by its digest: a copy that differs at all (say a model that refused a row
the first time and not on redelivery) is refused whole, to the dead-letter queue, not merged.
Records of such batches are known by their batch: the same id sent again in some other message
is not recognised as one of them (mlmon's services never do that; hand-made batches without the
header take the record-by-record path).

Both batch forms join whole: the numeric one (msgpack) and the Arrow one (named records, class
labels, scores, tags). A stored batch keeps its message as it came, so a prediction batch that
waited on disk still gives its rows' scores and tags cells (`ExtrasOf`, the log's formatting,
which this package may not import, handed in by the service).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mlmon.arrays import Floats
from mlmon.join.held import Held, pop_held
from mlmon.join.joined import Joined, ScoreColumns
from mlmon.join.store import JoinStore, Orphan, StoredPredictionBatch, StoredTruthBatch
from mlmon.wire import Y_PRED, Y_TRUE, RecordId, decode_batch, record_key
from mlmon.wire.arrow import RecordColumns, decode_values_arrow, is_arrow_stream
from mlmon.wire.labels import label_code

_ROWS = np.dtype("<i4")

# A prediction batch's per-row scores and tags cells of the log (None: no row has any).
ExtrasOf = Callable[[RecordColumns], list[str] | None]


def score_columns(columns: RecordColumns) -> ScoreColumns | None:
    """An Arrow batch's scores with their classes' codes (None: it carries none). Codes are
    computed, not remembered: a producer's score keys must not use up the labels' budget."""
    if columns.scores is None:
        return None
    return tuple(label_code(c, remember=False) for c in columns.classes), columns.scores


def digest(body: bytes) -> bytes:
    """What tells a redelivered batch from another one under the same batch id."""
    return hashlib.blake2b(body, digest_size=16).digest()


def batch_keys(ids: list[RecordId]) -> list[str] | None:
    """The join keys of a batch's ids, or None if an id repeats (such a batch cannot be joined
    as a whole: it takes the record-by-record path, which counts the repeat)."""
    try:
        "".join(ids)  # type: ignore[arg-type]  # the quickest way to learn they are all str
        keys = ids
    except TypeError:
        keys = [record_key(i) for i in ids]
    return keys if len(set(keys)) == len(keys) else None  # type: ignore[return-value]


@dataclass(slots=True)
class BatchHalf:
    """One batch of true values or of one model's predictions."""

    batch: str
    keys: list[str]
    values: Floats
    sent_at: Floats  # NaN where unknown
    body: bytes  # these rows as a batch message: what the store keeps
    digest: bytes  # of the message as it came
    arrived_at: float
    model: str = ""
    version: str = ""
    extras: list[str] | None = None  # per row, the log's scores and tags cells ("" for none)
    cells: Floats | None = None  # per row, its estimate cells (a row of zeros: none)
    scores: ScoreColumns | None = None  # the scores as numbers, for the live windows

    @classmethod
    def stored(
        cls,
        batch: str,
        row: StoredTruthBatch | StoredPredictionBatch,
        extras_of: ExtrasOf | None = None,
    ) -> BatchHalf:
        keys, values, sent_at, columns = read_body(row.body)
        model, version = (
            (row.model, row.version) if isinstance(row, StoredPredictionBatch) else ("", "")
        )
        extras = scores = None
        if columns is not None:
            extras = extras_of(columns) if extras_of is not None else None
            scores = score_columns(columns)
        return cls(
            batch, keys, values, sent_at, row.body, row.digest, row.arrived_at, model, version,
            extras, None, scores,
        )  # fmt: skip

    def as_stored_prediction(self) -> StoredPredictionBatch:
        return StoredPredictionBatch(
            self.model, self.version, self.body, self.digest, self.arrived_at
        )


@dataclass(slots=True)
class BatchOutcome:
    """What offering one batch did, beyond the rows it added to `Joined`."""

    duplicates: int = 0
    conflict: str | None = None  # the whole message is refused, for this reason
    orphans: list[Orphan] = field(default_factory=list)  # predictions without a true value


def read_body(body: bytes) -> tuple[list[str], Floats, Floats, RecordColumns | None]:
    """A stored batch's keys, values and event times, and its columns if it is Arrow."""
    if is_arrow_stream(body):
        columns = decode_values_arrow(body)
        assert columns.values is not None  # stored only once decoded as values
        return batch_keys(columns.ids) or [], columns.values, columns.ts, columns
    records = decode_batch(body)
    return batch_keys(records.ids) or [], records.values, records.sent_at, None


class BatchJoin:
    """Batches waiting in memory for their partner, over the durable JoinStore."""

    def __init__(self, store: JoinStore, extras_of: ExtrasOf | None = None) -> None:
        self.store = store
        self.extras_of = extras_of
        self._truths: dict[str, tuple[BatchHalf, Held]] = {}
        self._predictions: dict[str, dict[str, tuple[BatchHalf, Held]]] = {}

    def __repr__(self) -> str:
        return f"BatchJoin({self.store!r}, waiting={self.waiting()})"

    def waiting(self) -> dict[str, int]:
        """Records waiting in memory, by kind."""
        predictions = sum(
            len(half.keys)
            for by_model in self._predictions.values()
            for half, _ in by_model.values()
        )
        return {
            Y_TRUE: sum(len(half.keys) for half, _ in self._truths.values()),
            Y_PRED: predictions,
        }

    def offer_truth(self, half: BatchHalf, held: Held, joined: Joined) -> BatchOutcome:
        """Join a true values' batch with every model's predictions already here; otherwise it
        waits, belonging to `held`."""
        outcome = BatchOutcome()
        hot = self._truths.get(half.batch)
        seen = hot[0].digest if hot else None
        if seen is None:
            stored = self.store.truth_batch(half.batch)
            seen = None if stored is None else bytes(stored.digest)
        if seen is not None:
            return _repeat(outcome, half, seen, "true values")
        partners = []
        for prediction, prediction_held in self._predictions.pop(half.batch, {}).values():
            prediction_held.stop_waiting()
            partners.append(prediction)
            # From memory: new to the store, so counted now.
            self.store.predicted.add(prediction.model, prediction.sent_at, prediction.cells)
        partners += [
            BatchHalf.stored(half.batch, row, self.extras_of)
            for row in self.store.waiting_prediction_batches(half.batch)
        ]
        if not partners:
            self._truths[half.batch] = (half, held)
            held.wait_truth_batch(half.batch)
            return outcome
        unmatched = np.ones(len(half.keys), dtype=bool)
        for prediction in partners:
            outcome.orphans += _join(half, prediction, unmatched, half.arrived_at, joined)
            self.store.save_prediction_batch(
                half.batch, prediction.as_stored_prediction(), len(prediction.keys),
                joined_at=half.arrived_at,
            )  # fmt: skip
        self._save_truth(half, unmatched, joined_at=half.arrived_at)
        return outcome

    def offer_prediction(self, half: BatchHalf, held: Held, joined: Joined) -> BatchOutcome:
        """Join a model's predictions' batch with its true values if here; otherwise it waits,
        belonging to `held`."""
        outcome = BatchOutcome()
        hot = self._predictions.get(half.batch, {}).get(half.model)
        seen = hot[0].digest if hot else self.store.prediction_batch_digest(half.batch, half.model)
        if seen is not None:
            return _repeat(outcome, half, seen, f"predictions of model {half.model!r}")
        waiting_truth = self._truths.pop(half.batch, None)
        if waiting_truth is not None:
            truth, truth_held = waiting_truth
            truth_held.stop_waiting()
            unmatched = np.ones(len(truth.keys), dtype=bool)
        else:
            stored = self.store.truth_batch(half.batch)
            if stored is None:
                self._predictions.setdefault(half.batch, {})[half.model] = (half, held)
                held.wait_prediction_batch(half.batch, half.model)
                return outcome
            truth = BatchHalf.stored(half.batch, stored)
            unmatched = np.zeros(len(truth.keys), dtype=bool)
            unmatched[np.frombuffer(stored.unmatched, dtype=_ROWS)] = True
        outcome.orphans = _join(truth, half, unmatched, half.arrived_at, joined)
        self.store.predicted.add(half.model, half.sent_at, half.cells)
        self.store.save_prediction_batch(
            half.batch, half.as_stored_prediction(), len(half.keys), joined_at=half.arrived_at
        )
        self._save_truth(truth, unmatched, joined_at=half.arrived_at)
        return outcome

    def persist(self, held: Held) -> None:
        """Move the batches of `held` still waiting in memory to the store (before its ack)."""
        for batch in held.truth_batches:
            hot = self._truths.get(batch)
            if hot is not None and hot[1] is held:
                del self._truths[batch]
                self._save_truth(hot[0], np.ones(len(hot[0].keys), dtype=bool), None)
                held.stop_waiting()
        for batch, model in held.prediction_batches:
            prediction = pop_held(self._predictions, batch, model, held)
            if prediction is not None:
                self.store.save_prediction_batch(
                    batch, prediction.as_stored_prediction(), len(prediction.keys), None
                )
                self.store.predicted.add(model, prediction.sent_at, prediction.cells)
                held.stop_waiting()
        held.forget_batches()

    def expire(self, now: float) -> list[Orphan]:
        """Forget batches older than max_wait; their rows that never met a partner, as
        orphans."""
        truths, predictions = self.store.expire_batches(now)
        orphans = []
        for row in truths:
            keys, values, _, _ = read_body(row.body)
            for index in np.frombuffer(row.unmatched, dtype=_ROWS).tolist():
                orphans.append(
                    Orphan(keys[index], Y_TRUE, float(values[index]), "", row.arrived_at)
                )
        for prediction in predictions:
            keys, values, _, _ = read_body(prediction.body)
            orphans += [
                Orphan(key, Y_PRED, value, prediction.model, prediction.arrived_at)
                for key, value in zip(keys, values.tolist(), strict=True)
            ]
        return orphans

    def _save_truth(self, half: BatchHalf, unmatched: np.ndarray, joined_at: float | None) -> None:
        """Store the true values' batch (it may meet later models) with its unmatched rows."""
        rows = np.flatnonzero(unmatched).astype(_ROWS)
        self.store.save_truth_batch(
            half.batch, half.body, half.digest, half.arrived_at, rows.tobytes(), len(rows),
            joined_at,
        )  # fmt: skip


def _join(
    truth: BatchHalf, prediction: BatchHalf, unmatched: np.ndarray, now: float, joined: Joined
) -> list[Orphan]:
    """Append the pairs of two batches to `joined` and clear their true values from
    `unmatched`; return the predictions whose id the true values' batch lacks."""
    if prediction.keys == truth.keys:  # as mlmon's services send them
        keys, y_true, y_pred = prediction.keys, truth.values, prediction.values
        truth_sent, prediction_sent = truth.sent_at, prediction.sent_at
        extras, scores = prediction.extras, prediction.scores
        unmatched[:] = False
        unknown: list[Orphan] = []
    else:  # a model refused some rows, or the true values' batch lost some
        index = {key: row for row, key in enumerate(truth.keys)}
        positions = np.fromiter(
            (index.get(key, -1) for key in prediction.keys), dtype=np.intp,
            count=len(prediction.keys),
        )  # fmt: skip
        found = positions >= 0
        unknown = [
            Orphan(prediction.keys[row], Y_PRED, float(prediction.values[row]),
                   prediction.model, prediction.arrived_at)
            for row in np.flatnonzero(~found).tolist()
        ]  # fmt: skip
        positions = positions[found]
        rows = np.flatnonzero(found).tolist()
        keys = [prediction.keys[row] for row in rows]
        extras = None if prediction.extras is None else [prediction.extras[r] for r in rows]
        scores = None
        if prediction.scores is not None:
            scores = (prediction.scores[0], prediction.scores[1][found])
        y_true, y_pred = truth.values[positions], prediction.values[found]
        truth_sent, prediction_sent = truth.sent_at[positions], prediction.sent_at[found]
        unmatched[positions] = False
    sent_at = np.where(np.isnan(prediction_sent), truth_sent, prediction_sent)  # as Joined.append
    joined.extend(
        keys, y_true, y_pred, prediction.model, prediction.version, sent_at, now,
        truth.arrived_at - prediction.arrived_at, extras, scores,
    )  # fmt: skip
    return unknown


def _repeat(outcome: BatchOutcome, half: BatchHalf, seen: bytes, what: str) -> BatchOutcome:
    if seen == half.digest:
        outcome.duplicates = len(half.keys)
    else:
        outcome.conflict = (
            f"batch {half.batch!r} of {what} was received before with other contents; "
            "this copy is refused whole"
        )
    return outcome
