"""`Held`: a batch of deliveries not yet acked, and which of its halves still wait in memory.

The record join and the batch join add a held batch's waiting halves and take them away again
(when they meet their partner, or go to the store before the ack); they do it through these
methods only, so the count and the lists that find the halves again change together here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(slots=True, eq=False)
class Held:
    """Deliveries not yet acked, and how many of their halves still wait in memory."""

    deliveries: Sequence[Any]
    deadline: float
    waiting: int = 0
    truth_keys: list[str] = field(default_factory=list)
    prediction_keys: list[tuple[str, str]] = field(default_factory=list)
    truth_batches: list[str] = field(default_factory=list)  # the batch join's
    prediction_batches: list[tuple[str, str]] = field(default_factory=list)  # (batch, model)

    def wait_truth(self, key: str) -> None:
        """One of its true values waits in memory, under `key`."""
        self.waiting += 1
        self.truth_keys.append(key)

    def wait_prediction(self, key: str, model: str) -> None:
        """One of its predictions waits in memory, under (key, model)."""
        self.waiting += 1
        self.prediction_keys.append((key, model))

    def wait_truth_batch(self, batch: str) -> None:
        """Its true values' batch waits in memory, under `batch`."""
        self.waiting += 1
        self.truth_batches.append(batch)

    def wait_prediction_batch(self, batch: str, model: str) -> None:
        """Its batch of a model's predictions waits in memory, under (batch, model)."""
        self.waiting += 1
        self.prediction_batches.append((batch, model))

    def stop_waiting(self, count: int = 1) -> None:
        """`count` of its halves wait in memory no longer: they met their partner, or went to
        the store."""
        self.waiting -= count

    def forget_records(self) -> None:
        """Its single records were persisted: none of them is to be looked for again."""
        self.truth_keys.clear()
        self.prediction_keys.clear()

    def forget_batches(self) -> None:
        """Its batches were persisted: none of them is to be looked for again."""
        self.truth_batches.clear()
        self.prediction_batches.clear()


def pop_held(
    waiting: dict[str, dict[str, tuple[T, Held]]], key: str, model: str, held: Held
) -> T | None:
    """What waits under (key, model) if it belongs to `held`, no longer waiting; else None
    (it joined meanwhile, or a later copy belongs to another held batch)."""
    by_model = waiting.get(key)
    entry = by_model.get(model) if by_model else None
    if by_model is None or entry is None or entry[1] is not held:
        return None
    del by_model[model]
    if not by_model:
        del waiting[key]
    return entry[0]
