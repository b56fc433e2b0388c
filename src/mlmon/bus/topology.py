"""Every queue mlmon uses, with its arguments, in one place.

Default (durable): each queue is a durable quorum (or classic) queue whose rejected or
too-often-redelivered messages go to `<queue>.dead` through the default exchange.
Seed-compatible: the three data queues are declared exactly as the seeds declare them
(`queue_declare(queue=name)`: non-durable, no arguments), so seed services and mlmon
services can share them; their contents do not survive a broker restart.
Dead-letter queues are always durable: the seeds never declare them.

Feature vectors go out through a fan-out exchange named like the features queue, so that
several model services (a champion and its challengers) each get the whole stream in a queue
of their own. The features queue is bound to it, and so is each challenger's queue, by the
challenger itself: a challenger sees the records published from the moment it first started.
The seeds publish straight to the features queue (default exchange), which still works; they
just reach the champion only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlmon.settings import Settings

DEAD_SUFFIX = ".dead"


@dataclass(frozen=True)
class QueueSpec:
    name: str
    durable: bool
    arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def dead_letter_queue(self) -> str:
        return self.name + DEAD_SUFFIX


@dataclass(frozen=True)
class Topology:
    features: QueueSpec
    y_true: QueueSpec
    y_pred: QueueSpec
    dead_letters: tuple[QueueSpec, ...]
    features_exchange: str  # fan-out: every model service's queue is bound to it
    challenger: QueueSpec | None = None  # this model service's own features queue, if any

    @property
    def all_queues(self) -> tuple[QueueSpec, ...]:
        own = () if self.challenger is None else (self.challenger,)
        return (self.features, *own, self.y_true, self.y_pred, *self.dead_letters)

    @property
    def fanned_out(self) -> tuple[QueueSpec, ...]:
        """The queues bound to the features exchange."""
        return (self.features,) if self.challenger is None else (self.features, self.challenger)

    @classmethod
    def from_settings(cls, settings: Settings) -> Topology:
        names = [settings.queue_features, settings.queue_y_true, settings.queue_y_pred]
        if settings.features_queue_of_model != settings.queue_features:
            names.append(settings.features_queue_of_model)
        data = [_data_queue(name, settings) for name in names]
        dead = tuple(_dead_queue(spec.dead_letter_queue, settings) for spec in data)
        challenger = data[3] if len(data) > 3 else None
        return cls(data[0], data[1], data[2], dead, settings.queue_features, challenger)


def _data_queue(name: str, settings: Settings) -> QueueSpec:
    if settings.seed_compatible:
        return QueueSpec(name, durable=False)
    arguments: dict[str, Any] = {
        "x-queue-type": settings.queue_type,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": name + DEAD_SUFFIX,
    }
    if settings.queue_type == "quorum":
        # A message that crashes its consumer every time is dead-lettered, not redelivered forever.
        arguments["x-delivery-limit"] = settings.delivery_limit
    return QueueSpec(name, durable=True, arguments=arguments)


def _dead_queue(name: str, settings: Settings) -> QueueSpec:
    queue_type = "classic" if settings.seed_compatible else settings.queue_type
    return QueueSpec(name, durable=True, arguments={"x-queue-type": queue_type})
