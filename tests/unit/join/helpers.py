"""What the join tests share: a record join offered one half at a time, and the rows' errors."""

from __future__ import annotations

import numpy as np

from mlmon.join.held import Held
from mlmon.join.joined import Joined
from mlmon.join.records import Outcome, RecordJoin
from mlmon.join.store import JoinStore
from mlmon.wire import Y_PRED, Y_TRUE


class Join:
    """A RecordJoin offered one half at a time; `on_disk` persists each half's batch at once."""

    def __init__(self, store: JoinStore, on_disk: bool = False) -> None:
        self.store = store
        self.join = RecordJoin(store)
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
    """Each row's |y_true - y_pred|, as the metric log's absolute_error column has it."""
    values: list[float] = np.abs(joined.column(Y_TRUE) - joined.column(Y_PRED)).tolist()
    return values
