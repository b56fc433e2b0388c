"""The record join (`RecordJoin`): true values and predictions paired by id, record by
record, in memory first, on disk for what waits.

In a running pipeline a prediction follows its true value within milliseconds. Writing every
half to the durable JoinStore only to delete it again moments later cost most of the metric
service's time, so halves wait here, in memory, while the deliveries that carried them are
held unacked (`join.held.Held`). A half that meets its partner in memory never touches the
store's pending tables: only the joined pair is recorded (with its true value, so a
redelivered half of it is still recognised). When a held batch must be acked (its deadline
passed, too many are held, or the service stops) the caller `persist`s the halves of it still
waiting: they go to the store before the ack, exactly as every half used to. A crash loses
only unacked halves, which the broker redelivers.

Every incoming half is still checked against the store (`JoinStore.facts`), so a redelivery,
a duplicate or a conflict is recognised whether its first copy waits in memory, waits on disk
or was joined already. Decisions are the same as offering the halves one at a time in arrival
order, whichever level they wait in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from mlmon.arrays import Floats
from mlmon.join.held import Held, pop_held
from mlmon.join.joined import Joined
from mlmon.join.store import Changes, Facts, JoinStore, PredictionFact, TruthFact
from mlmon.wire import Y_PRED, Y_TRUE

Waiting: TypeAlias = tuple[PredictionFact, Floats | None]  # a prediction and its estimate cells


@dataclass(slots=True)
class Outcome:
    """What offering a batch of halves did: rows to write, conflicts (by the half's position
    in the batch, with the reason) to dead-letter, duplicates to count."""

    joined: Joined = field(default_factory=Joined)
    conflicts: list[tuple[int, str]] = field(default_factory=list)
    duplicates: int = 0


class RecordJoin:
    """Halves waiting in memory for their partner, over the durable JoinStore."""

    def __init__(self, store: JoinStore) -> None:
        self.store = store
        self._truths: dict[str, tuple[float, float | None, float, Held]] = {}
        # key -> model -> ((prediction, its estimate cells or None), held)
        self._predictions: dict[str, dict[str, tuple[Waiting, Held]]] = {}
        self._waiting_predictions = 0

    def __repr__(self) -> str:
        return f"RecordJoin({self.store!r}, waiting={self.waiting()})"

    def waiting(self) -> dict[str, int]:
        """Halves waiting in memory, by kind."""
        return {Y_TRUE: len(self._truths), Y_PRED: self._waiting_predictions}

    def pending(self) -> dict[str, int]:
        """Halves waiting for a partner, in memory or on disk, by kind."""
        on_disk = self.store.pending()
        in_memory = self.waiting()
        return {kind: on_disk[kind] + in_memory[kind] for kind in (Y_TRUE, Y_PRED)}

    def offer_truths(
        self,
        keys: Sequence[str],
        values: Sequence[float],
        sent_at: Sequence[float | None],
        arrived_at: float,
        held: Held,
    ) -> Outcome:
        """Offer true values in arrival order; those left waiting belong to `held`."""
        facts = self.store.facts(keys)
        outcome, changes = Outcome(), Changes()
        fresh: list[Waiting] = []  # predictions the store learns of now, to count
        for index, (key, value, sent) in enumerate(zip(keys, values, sent_at, strict=True)):
            known = self._known_truth(key, facts)
            if known is not None:
                self._repeat(outcome, index, Y_TRUE, key, known[0], value)
                continue
            truth = (value, sent, arrived_at)
            partners = self._take_predictions(key, facts, changes, fresh)
            if not partners:
                self._truths[key] = (*truth, held)
                held.wait_truth(key)
                continue
            facts.known_truths[key] = truth
            for prediction in partners:
                outcome.joined.append(key, truth, prediction, arrived_at)
                changes.joined.append(_joined_row(key, truth, prediction, arrived_at))
        self.store.apply(changes)
        if fresh:
            self.store.predicted.add_rows(
                [p[0] for p, _ in fresh], [p[3] for p, _ in fresh], cells=[c for _, c in fresh]
            )
        return outcome

    def offer_predictions(
        self,
        keys: Sequence[str],
        values: Sequence[float],
        models: Sequence[str],
        versions: Sequence[str],
        sent_at: Sequence[float | None],
        arrived_at: float,
        held: Held,
        extras: Sequence[str] | None = None,
        cells: Sequence[Floats | None] | None = None,
    ) -> Outcome:
        """Offer predictions in arrival order; those left waiting belong to `held`.
        `extras`: each prediction's scores and tags cells of the log (None: none has any);
        `cells`: each one's estimate cells (None: no estimates)."""
        facts = self.store.facts(keys)
        outcome, changes = Outcome(), Changes()
        uncounted: list[int] = []  # repeats, and those left waiting in memory
        for index, (key, value, model, version, sent, extra) in enumerate(
            zip(keys, values, models, versions, sent_at, extras or [""] * len(keys), strict=True)
        ):
            seen = self._known_prediction(key, model, facts)
            if seen is not None:
                self._repeat(outcome, index, f"{Y_PRED} of model {model!r}", key, seen, value)
                uncounted.append(index)
                continue
            prediction = (model, version, value, sent, arrived_at, extra)
            truth = self._take_truth(key, facts, changes)
            if truth is None:
                waiting = (prediction, None if cells is None else cells[index])
                self._predictions.setdefault(key, {})[model] = (waiting, held)
                self._waiting_predictions += 1
                held.wait_prediction(key, model)
                uncounted.append(index)
                continue
            facts.joined[key, model] = value
            outcome.joined.append(key, truth, prediction, arrived_at)
            changes.joined.append(_joined_row(key, truth, prediction, arrived_at))
        self.store.apply(changes)
        if len(uncounted) < len(keys):  # the others join now: the store learns of them
            self.store.predicted.add_rows(models, sent_at, skip=uncounted, cells=cells)
        return outcome

    def persist(self, held: Held) -> None:
        """Move the halves of `held` still waiting in memory to the store (before its ack)."""
        truths = []
        for key in held.truth_keys:
            truth = self._truths.get(key)
            if truth is not None and truth[3] is held:
                del self._truths[key]
                truths.append((key, *truth[:3]))
        predictions, cells = [], []
        for key, model in held.prediction_keys:
            waiting = pop_held(self._predictions, key, model, held)
            if waiting is not None:
                self._waiting_predictions -= 1
                predictions.append((key, *waiting[0]))
                cells.append(waiting[1])
        self.store.add_pending(truths, predictions)
        if predictions:  # on disk from now on, so counted now
            self.store.predicted.add_rows(
                [p[1] for p in predictions], [p[4] for p in predictions], cells=cells
            )
        held.stop_waiting(len(truths) + len(predictions))
        held.forget_records()

    def _known_truth(self, key: str, facts: Facts) -> TruthFact | None:
        """A true value already seen for `key`: waiting (here or on disk) or joined."""
        hot = self._truths.get(key)
        if hot is not None:
            return hot[:3]
        return facts.known_truths.get(key) or facts.pending_truths.get(key)

    def _known_prediction(self, key: str, model: str, facts: Facts) -> float | None:
        """The value of a prediction already seen for (key, model)."""
        hot = self._predictions.get(key)
        if hot is not None and model in hot:
            return hot[model][0][0][2]
        on_disk = facts.pending_predictions.get(key)
        if on_disk is not None and model in on_disk:
            return on_disk[model][2]
        return facts.joined.get((key, model))

    def _take_predictions(
        self, key: str, facts: Facts, changes: Changes, fresh: list[Waiting]
    ) -> list[PredictionFact]:
        """Every prediction waiting for `key`, no longer waiting; those from memory also go
        to `fresh`."""
        partners: list[PredictionFact] = []
        on_disk = facts.pending_predictions.pop(key, None)  # waited longer: they go first
        if on_disk is not None:
            changes.predictions_met.append((key,))
            partners.extend(on_disk.values())
        hot = self._predictions.pop(key, None)
        if hot is not None:
            for waiting, held in hot.values():
                held.stop_waiting()
                partners.append(waiting[0])
                fresh.append(waiting)
            self._waiting_predictions -= len(hot)
        for prediction in partners:
            facts.joined[key, prediction[0]] = prediction[2]
        return partners

    def _take_truth(self, key: str, facts: Facts, changes: Changes) -> TruthFact | None:
        """The true value of `key` if known; one that was waiting waits no longer."""
        hot = self._truths.pop(key, None)
        if hot is not None:
            hot[3].stop_waiting()
            truth: TruthFact = hot[:3]
            facts.known_truths[key] = truth
            return truth
        known = facts.known_truths.get(key)
        if known is not None:
            return known
        waiting = facts.pending_truths.pop(key, None)
        if waiting is not None:
            changes.truths_met.append((key,))
            facts.known_truths[key] = waiting
        return waiting

    @staticmethod
    def _repeat(
        outcome: Outcome, index: int, what: str, key: str, seen: float, offered: float
    ) -> None:
        if seen == offered:
            outcome.duplicates += 1
        else:
            reason = f"duplicate id {key!r}: {what} was {seen!r}, now {offered!r}"
            outcome.conflicts.append((index, reason))


def _joined_row(
    key: str, truth: TruthFact, prediction: PredictionFact, joined_at: float
) -> tuple[Any, ...]:
    """A row of the store's `joined` table: enough to recognise either half again later."""
    return (key, prediction[0], prediction[2], joined_at, truth[0], truth[1], truth[2])
