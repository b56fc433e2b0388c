"""How long halves wait, and where: held unacked in memory, then in the store, then orphans.

A batch of deliveries whose halves wait for their partner stays unacked for up to HOLD_SECONDS
(or until its queue holds too much of the prefetch window), so that a partner arriving
meanwhile joins in memory. Released, its halves still waiting go to the store, where they wait
up to max_label_wait; what never meets its partner there expires into orphans.csv.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mlmon.join.batches import BatchJoin
from mlmon.join.held import Held
from mlmon.join.records import RecordJoin
from mlmon.join.store import Orphan
from mlmon.ops.status import ServiceStats
from mlmon.wire import Y_PRED

log = logging.getLogger(__name__)

ORPHANS_LOGGED = 10  # by name per sweep; the rest are counted and in orphans.csv
# How long a batch may stay unacked while its halves wait in memory for their partner: the
# model answers within milliseconds, so almost every half joins before this and never touches
# the store's pending tables. Far below RabbitMQ's consumer_timeout.
HOLD_SECONDS = 0.2
# Share of the prefetch window one queue may hold unacked before its oldest halves go to the
# store. Three quarters: flat out, the true values' consumer starts ahead of the predictions'
# (they come a model's latency later) and stays as far ahead; holding half the window, most
# of a large run's batches were written to the store and read back to be joined. Not all of
# it: when partners come late (labels hours behind), a full window would let the broker
# deliver only one window per HOLD_SECONDS, and the backlog would pile up in the queue; the
# free quarter keeps deliveries flowing.
HELD_SHARE_OF_PREFETCH = 0.75


def sweep_every(max_label_wait: float) -> float:
    """Seconds between two sweeps of the store for expired halves: a tenth of how long they
    may wait, at most a minute."""
    return min(60.0, max_label_wait / 10)


class Holding:
    """Batches of deliveries held unacked, per queue, oldest first (acks go out in delivery
    order), and the release of those that may go."""

    def __init__(
        self,
        queues: Iterable[str],
        prefetch: int,
        records: RecordJoin,
        batches: BatchJoin,
        stats: ServiceStats,
    ) -> None:
        self._held: dict[str, deque[Held]] = {queue: deque() for queue in queues}
        self._max_held = int(prefetch * HELD_SHARE_OF_PREFETCH)
        self.records = records
        self.batches = batches
        self.stats = stats

    def __repr__(self) -> str:
        held = {queue: len(batches) for queue, batches in self._held.items()}
        return f"Holding({held}, max_held={self._max_held})"

    @staticmethod
    def start(deliveries: Sequence[Any], clock: float) -> Held:
        """A new held batch for `deliveries` that came at `clock` (time.monotonic)."""
        return Held(deliveries, clock + HOLD_SECONDS)

    def hold(self, queue: str, held: Held) -> None:
        """Keep `held` unacked, after the batches its queue holds already."""
        self._held[queue].append(held)

    def unacked(self, queue: str) -> int:
        """Deliveries the queue holds unacked."""
        return sum(len(held.deliveries) for held in self._held[queue])

    def release(self, clock: float, everything: bool = False) -> list[Held]:
        """Take, oldest first per queue, the held batches whose halves all joined, whose time
        is up, or that exceed the share of the prefetch window (`everything`: all of them);
        their waiting halves go to the store, uncommitted: the caller commits before the ack."""
        released: list[Held] = []
        for queue_held in self._held.values():
            count = sum(len(held.deliveries) for held in queue_held)
            while queue_held:
                oldest = queue_held[0]
                due = oldest.waiting == 0 or oldest.deadline <= clock or count > self._max_held
                if not (due or everything):
                    break
                queue_held.popleft()
                count -= len(oldest.deliveries)
                if oldest.waiting:
                    self.records.persist(oldest)
                    self.batches.persist(oldest)
                    self.stats.counters["held_to_store"] += 1
                released.append(oldest)
        return released


def report_orphans(
    orphans: Sequence[Orphan], why: str, stats: ServiceStats, orphan_log: Path
) -> None:
    """Log the first orphans by name (the rest are in `orphan_log`) and count them all."""
    for orphan in orphans[:ORPHANS_LOGGED]:
        log.warning("orphan: %s %r %s", orphan.kind, orphan.key, why)
    if len(orphans) > ORPHANS_LOGGED:
        extra = len(orphans) - ORPHANS_LOGGED
        log.warning("... and %d more orphans, all in %s", extra, orphan_log)
    stats.counters["orphans"] += len(orphans)
    stats.counters["orphaned_predictions"] += sum(o.kind == Y_PRED for o in orphans)
