"""The in-process bus of the embedded mode: asyncio queues, bounded for back-pressure.

Nothing here survives the process: the embedded mode trades durability for zero set-up.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator, Sequence

from mlmon.bus import Delivery, OutMessage
from mlmon.bus.batching import next_batch
from mlmon.bus.topology import DEAD_SUFFIX

DEAD_LETTERS_KEPT = 10_000


class MemoryBus:
    """Same interface as RabbitBus; every queue lives in this process."""

    def __init__(self, capacity: int = 20_000, fanout: dict[str, list[str]] | None = None) -> None:
        """`fanout` maps a name published to onto the queues that each get a copy (the
        features stream to a champion and its challengers)."""
        self._capacity = capacity
        self._fanout = fanout or {}
        self._queues: dict[str, asyncio.Queue[Delivery]] = {}
        self._stopped = asyncio.Event()
        self.dead_letters: dict[str, deque[Delivery]] = defaultdict(
            lambda: deque(maxlen=DEAD_LETTERS_KEPT)
        )
        self.published: Counter[str] = Counter()
        self.acked = 0

    def __repr__(self) -> str:
        depths = {name: queue.qsize() for name, queue in self._queues.items()}
        return f"MemoryBus(depths={depths}, acked={self.acked})"

    def _queue(self, name: str) -> asyncio.Queue[Delivery]:
        if name not in self._queues:
            self._queues[name] = asyncio.Queue(self._capacity)
        return self._queues[name]

    async def connect(self) -> None:
        return None

    @property
    def connected(self) -> bool:
        return True

    async def publish(self, queue: str, messages: Sequence[OutMessage]) -> None:
        if queue in self._fanout:
            for bound in self._fanout[queue]:
                await self._put(bound, messages)
        else:
            await self._put(queue, messages)

    async def _put(self, queue: str, messages: Sequence[OutMessage]) -> None:
        for message in messages:
            delivery = Delivery(
                queue, message.body, dict(message.headers), False, message.content_type
            )
            if queue.endswith(DEAD_SUFFIX):
                self.dead_letters[queue].append(delivery)  # nobody consumes them in-process
            else:
                await self._queue(queue).put(delivery)
            self.published[queue] += 1

    async def batches(
        self, queue: str, max_batch: int, linger: float
    ) -> AsyncIterator[list[Delivery]]:
        source = self._queue(queue)
        while (batch := await next_batch(source, max_batch, linger, self._stopped)) is not None:
            yield batch

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        self.acked += len(deliveries)

    async def stop_consuming(self) -> None:
        self._stopped.set()

    async def depth(self, queue: str) -> int | None:
        if queue.endswith(DEAD_SUFFIX):
            return len(self.dead_letters[queue])
        return self._queue(queue).qsize()

    async def close(self) -> None:
        self._stopped.set()
