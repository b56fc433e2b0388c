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

Sharded metric (MLMON_METRIC_WORKERS=N > 1): `y_true` and `y_pred` become N queue pairs,
`y_true.2-of-3`, and a message goes to the shard of its key (`OutMessage.key`: the batch name,
else its records' id, the same for both halves of a record) by a fixed shard map, CRC-32 of the
key modulo N, computed by the publisher. Not RabbitMQ's consistent-hash exchange: that plugin
has to be enabled on every node of a cluster, and re-balancing is of no use here, since a
shard's waiting halves live in its worker's own join store; a fixed map also runs the same on
every broker and is a pure function the tests check. Each worker consumes one pair
(`metric_shard_settings`) and sees the topology of a single metric.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlmon.errors import BrokerError
from mlmon.settings import Settings
from mlmon.wire import RecordId, record_key

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
    # With several metric workers: per data queue (`y_true`), its shards' queues, in order.
    shards: dict[str, tuple[QueueSpec, ...]] = field(default_factory=dict)

    @property
    def all_queues(self) -> tuple[QueueSpec, ...]:
        own = () if self.challenger is None else (self.challenger,)
        joined = [
            shard
            for spec in (self.y_true, self.y_pred)
            for shard in self.shards.get(spec.name, (spec,))
        ]
        return (self.features, *own, *joined, *self.dead_letters)

    def destination(self, queue: str, key: str | None) -> str:
        """The queue a message to `queue` goes to: the shard of its key, if `queue` is sharded."""
        shards = self.shards.get(queue)
        if not shards:
            return queue
        if key is None:
            msg = f"a message to the sharded queue {queue!r} has no key to choose its shard by"
            raise BrokerError(msg)
        return shards[shard_of(key, len(shards))].name

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
        shards = {}
        if settings.metric_workers > 1:
            workers = settings.metric_workers
            shards = {
                name: tuple(
                    _data_queue(f"{name}.{shard_name(k, workers)}", settings)
                    for k in range(1, workers + 1)
                )
                for name in (settings.queue_y_true, settings.queue_y_pred)
            }
        unsharded = [spec for spec in data if spec.name not in shards]
        every = unsharded + [shard for specs in shards.values() for shard in specs]
        dead = tuple(_dead_queue(spec.dead_letter_queue, settings) for spec in every)
        challenger = data[3] if len(data) > 3 else None
        return cls(data[0], data[1], data[2], dead, settings.queue_features, challenger, shards)


def shard_name(shard: int, workers: int) -> str:
    """A shard's name in its queues and its logs directory: `2-of-3` (a worker started with
    another count of workers reads other queues, instead of half the halves of its records)."""
    return f"{shard}-of-{workers}"


def shard_of(key: str, workers: int) -> int:
    """The fixed shard map: 0-based shard of a record id or batch name (CRC-32: the same in
    every process, unlike `hash`)."""
    return zlib.crc32(key.encode("utf-8")) % workers


def shard_groups(ids: Sequence[RecordId], workers: int) -> list[list[int]]:
    """The positions of `ids` grouped by shard (non-empty groups only), so that a message
    built from one group goes to one shard whole."""
    if workers == 1:
        return [list(range(len(ids)))] if ids else []
    groups: dict[int, list[int]] = {}
    for index, record_id in enumerate(ids):
        groups.setdefault(shard_of(record_key(record_id), workers), []).append(index)
    return [groups[k] for k in sorted(groups)]


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
