"""The message bus seen by services: publish, consume in batches, ack.

Two implementations share this interface: `RabbitBus` (the only module that imports the AMQP
client) and `MemoryBus` (the embedded in-process mode and unit tests).
Imports `settings`, `wire` and `errors` only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlmon.wire import JSON

# Consumers take what is ready and go: waiting for company would add its wait to every record's
# latency at low rates, and under load deliveries pile up while the previous batch is being
# processed, so batches grow by themselves. Only the producer lingers, to fill its messages.
CONSUMER_LINGER = 0.0


@dataclass(frozen=True, slots=True)
class OutMessage:
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    content_type: str = JSON
    # What a sharded queue's shard is chosen by: the batch name, else the records' id (every
    # record of a message to a sharded queue is of that key's shard); None for other queues.
    key: str | None = None


@dataclass(slots=True)
class Delivery:
    queue: str
    body: bytes
    headers: dict[str, Any]
    redelivered: bool
    content_type: str | None = None
    handle: Any = None  # the implementation's own delivery object


class Bus(Protocol):
    async def connect(self) -> None:
        """Connect and declare the topology."""

    async def publish(self, queue: str, messages: Sequence[OutMessage]) -> None:
        """Return once the broker has confirmed every message (retrying until it does)."""

    def batches(self, queue: str, max_batch: int, linger: float) -> AsyncIterator[list[Delivery]]:
        """Yield lists of deliveries: up to max_batch, waiting up to linger seconds for more."""

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge deliveries whose effect is durable.

        Consumers ack every delivery of a batch, batches in order, so an implementation may
        ack cumulatively (everything up to the batch's last delivery).
        """

    @property
    def connected(self) -> bool:
        """Whether the bus can reach its broker right now."""

    async def stop_consuming(self) -> None:
        """Stop receiving new deliveries; in-flight ones may still be acked."""

    async def depth(self, queue: str) -> int | None:
        """Messages ready in a queue, if the bus can tell."""

    async def close(self) -> None: ...


def make_bus(settings: Any, name: str) -> Bus:
    """The bus the settings ask for: RabbitMQ with a broker URL, else in-process."""
    if settings.broker_url is None:
        from mlmon.bus.memory import MemoryBus

        return MemoryBus()
    from mlmon.bus.rabbit import RabbitBus

    return RabbitBus(settings, connection_name=name)
