"""RabbitMQ through aio-pika and, on the per-message paths, its aiormq core (consumer.py,
confirmed_publish.py say why). This package is the only code that imports the AMQP client.

Known client traps handled here:
- robust objects are restored through weak references (aio-pika #536): we keep strong
  references to every channel, queue and consumer tag;
- publishing on a robust channel waits forever while disconnected (aio-pika #556/#636): getting
  the channel is bounded by `publish_timeout` and retried; messages already written are waited
  for (their connection's death rejects them, and then they are sent again, same body and id);
- unroutable messages look confirmed (aio-pika #78): we publish `mandatory` with returns raised;
- delivery tags die with their channel: an ack that fails after a reconnect is logged and left
  to redelivery, which the idempotent consumers absorb.

With several broker addresses (a cluster) every connection is a `FailoverConnection`: it moves
to the next node when its own goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractQueue,
)
from aiormq.abc import DeliveredMessage

from mlmon.bus import Delivery, OutMessage
from mlmon.bus.batching import next_batch
from mlmon.bus.confirmed_publish import (
    Outgoing,
    lost_not_cancelled,
    outcome,
    send_confirmed,
)
from mlmon.bus.consumer import QueueConsumer
from mlmon.bus.failover import connect_failover
from mlmon.bus.topology import QueueSpec, Topology
from mlmon.errors import BrokerError
from mlmon.settings import Settings, redact_url

log = logging.getLogger(__name__)

_TRANSIENT = (
    TimeoutError,
    ConnectionError,
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    RuntimeError,  # aio-pika raises it for a channel closed under our feet
)


class RabbitBus:
    """Publish with confirms and consume with manual acks on durable queues."""

    def __init__(
        self, settings: Settings, connection_name: str, connect_patience: float | None = None
    ) -> None:
        if settings.broker_url is None:
            msg = "RabbitBus needs a broker URL (MLMON_BROKER_URL or --broker)"
            raise BrokerError(msg)
        self._url = settings.broker_url
        self._addresses = settings.broker_urls
        self._first = 0  # the address the next first connection tries
        self._settings = settings
        self._topology = Topology.from_settings(settings)
        self._specs = {spec.name: spec for spec in self._topology.all_queues}
        self._name = connection_name
        self._patience = settings.connect_patience if connect_patience is None else connect_patience
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        # Consumers get a connection of their own: while a resource alarm lasts RabbitMQ blocks
        # every connection that publishes, and acks on such a connection would wait too.
        self._consuming: aio_pika.abc.AbstractRobustConnection | None = None
        self._consuming_lock = asyncio.Lock()
        self._publisher: AbstractChannel | None = None
        self._fanout: AbstractExchange | None = None
        self._declared: dict[str, AbstractQueue] = {}
        # Strong references: robust reconnection only restores objects that are still alive.
        self._consumers: list[QueueConsumer] = []
        self._stopped = asyncio.Event()

    def __repr__(self) -> str:
        return f"RabbitBus({redact_url(self._url)!r}, name={self._name!r})"

    async def connect(self) -> None:
        """Connect and declare the topology, retrying while the broker is away (a broker that
        restarts while we start up must not kill the service)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._patience
        delay = 0.2
        while True:
            try:
                with lost_not_cancelled():
                    await self._connect_once()
                return
            except BrokerError:
                raise  # a clash over a queue's settings: retrying will not help
            except (OSError, TimeoutError, *_TRANSIENT) as error:
                if self._connection is not None:
                    with contextlib.suppress(*_TRANSIENT):
                        await self._connection.close()
                    self._connection = None
                self._first = (self._first + 1) % len(self._addresses)  # another node's turn
                if loop.time() + delay > deadline:
                    msg = f"cannot reach RabbitMQ at {redact_url(self._url)}: {error!r}"
                    raise BrokerError(msg) from None
                log.warning("broker not reachable yet (%r); retrying in %.1fs", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _connect_once(self) -> None:
        self._connection = await connect_failover(self._addresses, self._first, self._name, 5)
        self._publisher = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        # Kept: robust reconnection restores only declarations that are still referenced.
        self._declared = {
            spec.name: await self._declare(self._publisher, spec)
            for spec in self._topology.all_queues
        }
        self._fanout = await self._publisher.declare_exchange(
            self._topology.features_exchange, aio_pika.ExchangeType.FANOUT, durable=True
        )
        for spec in self._topology.fanned_out:
            await self._declared[spec.name].bind(self._fanout)

    async def _declare(self, channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
        try:
            return await channel.declare_queue(
                spec.name, durable=spec.durable, arguments=spec.arguments or None
            )
        except aiormq.exceptions.ChannelPreconditionFailed as error:
            msg = (
                f"queue {spec.name!r} already exists with other settings ({error}); "
                "delete it, or set MLMON_SEED_COMPATIBLE=true to share the seeds' plain queues"
            )
            raise BrokerError(msg) from None

    def _channel(self) -> AbstractChannel:
        if self._publisher is None:
            msg = "RabbitBus.connect() was not called"
            raise BrokerError(msg)
        return self._publisher

    async def publish(self, queue: str, messages: Sequence[OutMessage]) -> None:
        # Feature vectors fan out to every model service's queue; the rest go straight, to
        # their shard's queue when the metric is sharded.
        if queue == self._topology.features_exchange and self._fanout is not None:
            await self._publish_to(self._topology.features_exchange, "", queue, messages)
            return
        routed: dict[str, list[OutMessage]] = {}
        for message in messages:
            routed.setdefault(self._topology.destination(queue, message.key), []).append(message)
        if len(routed) == 1:
            destination = next(iter(routed))
            await self._publish_to("", destination, destination, messages)
            return
        async with asyncio.TaskGroup() as group:  # in flight together, confirmed together
            for destination, some in routed.items():
                group.create_task(self._publish_to("", destination, destination, some))

    async def _publish_to(
        self, exchange: str, key: str, queue: str, messages: Sequence[OutMessage]
    ) -> None:
        """Publish to one exchange and routing key until the broker confirms every message."""
        pending = [Outgoing(m.body, m.headers, m.content_type) for m in messages]
        attempt = 0
        while pending:
            failed: list[Outgoing]
            try:
                with lost_not_cancelled():
                    channel = await asyncio.wait_for(
                        self._channel().get_underlay_channel(), self._settings.publish_timeout
                    )
                    confirms = await send_confirmed(channel, exchange, key, pending)
            except _TRANSIENT as error:  # nothing of this attempt will be confirmed
                failed, reason = pending, repr(error)
            else:
                outcomes = await self._confirmed(channel, confirms, queue)
                failed = [m for m, o in zip(pending, outcomes, strict=True) if o is not None]
                reason = next((repr(o) for o in outcomes if o is not None), "")
            if not failed:
                return
            attempt += 1
            delay = min(0.1 * 2**attempt, 5.0)
            log.warning(
                "%d of %d messages to %r not confirmed (%s); sending them again in %.1fs",
                len(failed),
                len(pending),
                queue,
                reason,
                delay,
            )
            pending = failed
            await asyncio.sleep(delay)

    async def _confirmed(
        self,
        channel: aiormq.abc.AbstractChannel,
        confirms: list[asyncio.Future[Any]],
        queue: str,
    ) -> list[BaseException | None]:
        """Wait for every confirm; per message, None or why it was not confirmed.

        A message in flight is not sent again because its confirm is slow (a busy disk, a
        memory alarm): while its connection lives the broker answers it, and if the connection
        dies aiormq rejects it, so a resend on a timeout would only duplicate it. Every
        `publish_timeout` a warning says how long it has been."""
        waiting: set[asyncio.Future[Any]] = set(confirms)
        waited = 0.0
        while True:
            _done, waiting = await asyncio.wait(waiting, timeout=self._settings.publish_timeout)
            if not waiting or channel.is_closed:
                return [outcome(future) for future in confirms]
            waited += self._settings.publish_timeout
            log.warning(
                "%d messages to %r not confirmed after %.0fs; still waiting for the broker",
                len(waiting),
                queue,
                waited,
            )

    async def batches(
        self, queue: str, max_batch: int, linger: float
    ) -> AsyncIterator[list[Delivery]]:
        buffer: asyncio.Queue[Delivery] = asyncio.Queue()

        def on_delivery(message: DeliveredMessage) -> None:
            properties = message.header.properties
            buffer.put_nowait(
                Delivery(
                    queue,
                    message.body,
                    dict(properties.headers or {}),
                    bool(message.redelivered),
                    properties.content_type,
                    message,
                )
            )

        await self._start_consumer(queue, on_delivery)
        while (batch := await next_batch(buffer, max_batch, linger, self._stopped)) is not None:
            yield batch

    async def _start_consumer(
        self, queue: str, on_delivery: Callable[[DeliveredMessage], None]
    ) -> None:
        """Open a channel and consume, retrying while the broker is away; once consuming, the
        robust channel restores the consumer after later reconnects."""
        delay = 0.2
        spec = self._specs[queue]
        while True:
            if self._connection is None:
                msg = "RabbitBus.connect() was not called"
                raise BrokerError(msg)
            channel = None
            try:
                with lost_not_cancelled():
                    channel = await (await self._consumer_connection()).channel()
                    await channel.set_qos(prefetch_count=self._settings.consumer_prefetch)
                    amqp_queue = await self._declare(channel, spec)
                    consumer = QueueConsumer(
                        channel,
                        amqp_queue,
                        on_delivery,
                        functools.partial(self._redeclare, amqp_queue, spec),
                        _TRANSIENT,
                    )
                    await consumer.start()
            except BrokerError:
                raise
            except _TRANSIENT as error:
                if channel is not None:  # nothing may consume on it later (its reopening)
                    with contextlib.suppress(*_TRANSIENT), lost_not_cancelled():
                        await channel.close()
                log.warning("cannot consume %r yet (%r); retrying in %.1fs", queue, error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._consumers.append(consumer)
            return

    async def _consumer_connection(self) -> aio_pika.abc.AbstractRobustConnection:
        async with self._consuming_lock:  # the metric starts two consumers at once: one each
            if self._consuming is None:
                self._consuming = await connect_failover(
                    self._addresses, self._first, f"{self._name} (consuming)", 5
                )
            return self._consuming

    async def _redeclare(self, amqp_queue: AbstractQueue, spec: QueueSpec) -> None:
        """A deleted queue comes back as the topology declares it, fan-out binding included."""
        await amqp_queue.declare()
        if spec in self._topology.fanned_out:
            await amqp_queue.bind(self._topology.features_exchange)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        # Consumers ack whole batches in delivery order, so one cumulative ack (multiple=True)
        # of the highest tag per channel covers the batch: one frame instead of hundreds.
        last: dict[int, tuple[aiormq.abc.AbstractChannel, int]] = {}
        orphaned = 0
        for delivery in deliveries:
            message: DeliveredMessage = delivery.handle
            channel, tag = message.channel, int(message.delivery_tag or 0)
            if channel.is_closed:
                orphaned += 1  # its channel died with a broker restart (trap 4)
                continue
            if tag > last.get(id(channel), (channel, 0))[1]:
                last[id(channel)] = (channel, tag)
        if orphaned:
            log.warning(
                "%d deliveries from %r came on a channel that has since closed; the "
                "broker redelivers them",
                orphaned,
                deliveries[0].queue,
            )
        for channel, tag in last.values():
            try:
                with lost_not_cancelled():
                    await channel.basic_ack(tag, multiple=True)
            except _TRANSIENT as error:
                # The channel that delivered them is gone (trap 4): the broker redelivers them
                # and the idempotent consumers recognise them.
                log.warning(
                    "could not ack deliveries from %r up to tag %s (%r); they will be redelivered",
                    deliveries[0].queue,
                    tag,
                    error,
                )

    @property
    def connected(self) -> bool:
        return _up(self._connection) and (self._consuming is None or _up(self._consuming))

    async def stop_consuming(self) -> None:
        self._stopped.set()
        for consumer in self._consumers:
            try:
                await consumer.stop(self._settings.publish_timeout)
            except _TRANSIENT as error:
                log.warning("could not cancel consumer on %r: %r", consumer.queue.name, error)

    async def depth(self, queue: str) -> int | None:
        connection = self._connection
        if connection is None:
            return None
        try:
            with lost_not_cancelled():
                # A passive declare of a missing queue closes its channel: use a throwaway one.
                async with connection.channel() as channel:
                    declared = await channel.declare_queue(queue, passive=True)
                    count = declared.declaration_result.message_count
                    return int(count) if count is not None else None
        except _TRANSIENT:
            return None

    async def close(self) -> None:
        self._stopped.set()
        # Consumers first: their unacked deliveries go back to the queues before publishing ends.
        for connection in (self._consuming, self._connection):
            if connection is not None:
                await connection.close()


def _up(connection: aio_pika.abc.AbstractRobustConnection | None) -> bool:
    return connection is not None and not connection.is_closed and connection.connected.is_set()


async def remove_queues(url: str, names: Sequence[str]) -> dict[str, int]:
    """Delete queues (a finished run's challenger queues, which would otherwise stay bound to
    the features fan-out and fill up forever); return how many messages each still held."""
    dropped: dict[str, int] = {}
    connection = await aio_pika.connect(url.split(",")[0], timeout=10)
    async with connection:
        for name in names:
            channel = await connection.channel()  # a missing queue closes its channel
            with contextlib.suppress(aiormq.exceptions.ChannelNotFoundEntity):
                result = await channel.queue_delete(name)
                dropped[name] = int(getattr(result, "message_count", 0) or 0)
    return dropped
