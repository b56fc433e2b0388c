"""Consume one queue through aiormq's channel directly, restored by aio-pika's robust channel.

Why not aio-pika's `Queue.consume`: for every delivery it builds an `IncomingMessage` (some
twenty attributes, each set through a locking `__setattr__`) and starts a second task for the
callback. With single-record messages that was a large share of each delivery's cost
(bench_broker's bare consumer measures both). mlmon only needs the body, headers, content
type, the redelivered flag and the delivery tag for a cumulative ack.

aiormq itself still starts a task per delivery to run the consumer's callback: with
single-record messages that task (creating, scheduling and forgetting it) was a sizeable share
of the metric's and the model's event loop. `DirectDelivery` takes over the channel's delivery
frame handler and hands the message over in the reader itself. It uses aiormq internals:
`Channel._on_deliver_frame` (replaced per channel), the private `_Channel__get_content_header`
and `_read_content`, and `.consumers`; without them the channel keeps aiormq's own handler.
pyproject.toml bounds aiormq to the tested minor, and tests/unit/bus/test_amqp_internals.py
fails, naming the piece, if an upgrade drops one.

What aio-pika's robust queue would do for us, done here instead:
- after a reconnect the robust channel reopens, restores its QoS and re-declares its queues,
  then calls `reopen_callbacks`: we consume again there, with the same consumer tag;
- a consumer the broker cancels (its queue was deleted) is started again on the queue declared
  again with its bindings (a model's queue is bound to the features fan-out), as aio-pika's
  recovery would, retrying while the channel is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiormq
from aio_pika.abc import AbstractQueue, AbstractRobustChannel
from aiormq.abc import AbstractChannel, DeliveredMessage

from mlmon.bus.confirmed_publish import lost_not_cancelled

log = logging.getLogger(__name__)

RESUME_PATIENCE = 5.0  # seconds between attempts to consume again after a broker's cancel


class DirectDelivery:
    """A channel's `_on_deliver_frame`: aiormq's, minus the task per delivery, for one
    consumer tag (any other delivery goes to aiormq's own handler)."""

    def __init__(
        self, raw: AbstractChannel, tag: str, on_delivery: Callable[[DeliveredMessage], None]
    ) -> None:
        self._tag = tag
        self._on_delivery = on_delivery
        # aiormq.Channel's, not AbstractChannel's: `install` checked they are there.
        self._aiormqs = getattr(raw, "_on_deliver_frame")  # noqa: B009
        self._content_header = getattr(raw, "_Channel__get_content_header")  # noqa: B009
        self._content = getattr(raw, "_read_content")  # noqa: B009
        self._consumers: dict[str, Any] = getattr(raw, "consumers")  # noqa: B009

    @classmethod
    def install(
        cls, raw: AbstractChannel, tag: str, on_delivery: Callable[[DeliveredMessage], None]
    ) -> bool:
        """Take over `raw`'s delivery handler for `tag`, if this aiormq has what it needs."""
        if not all(
            hasattr(raw, name)
            for name in (
                "_on_deliver_frame",
                "_Channel__get_content_header",
                "_read_content",
                "consumers",
            )
        ):
            return False
        if not hasattr(raw, "__dict__"):
            return False
        installed = vars(raw).get("_on_deliver_frame")
        if isinstance(installed, cls):  # this channel's consumer again, after a cancel
            return installed._tag == tag
        # An instance attribute: aiormq's reader looks the handler up for every frame.
        setattr(raw, "_on_deliver_frame", cls(raw, tag, on_delivery))  # noqa: B010
        return True

    async def __call__(self, frame: aiormq.spec.Basic.Deliver) -> None:
        if frame.consumer_tag != self._tag or self._tag not in self._consumers:
            await self._aiormqs(frame)  # not ours, or cancelled: as aiormq would
            return
        header = await self._content_header()
        message = await self._content(frame, header)
        try:
            self._on_delivery(message)
        except Exception:  # as aiormq treats a failed callback: logged, the channel lives on
            log.exception("consumer callback failed")


class QueueConsumer:
    """Hand every delivery of `queue` to `on_delivery` (synchronously, in delivery order)."""

    def __init__(
        self,
        channel: AbstractRobustChannel,
        queue: AbstractQueue,
        on_delivery: Callable[[DeliveredMessage], None],
        redeclare: Callable[[], Awaitable[None]],
        transient: tuple[type[BaseException], ...],
    ) -> None:
        self.channel = channel
        self.queue = queue  # kept: the robust channel re-declares only queues still referenced
        self.tag = f"mlmon.{queue.name}.{uuid.uuid4().hex[:12]}"
        self._on_delivery = on_delivery
        self._redeclare = redeclare  # the queue and its bindings, as the topology has them
        self._transient = transient
        self._stopped = asyncio.Event()
        self._resuming: asyncio.Task[None] | None = None
        self.direct = False  # deliveries bypass aiormq's task per delivery

    async def start(self) -> None:
        """Consume; from then on, also after every reopening of the robust channel."""
        await self._consume()
        self.channel.reopen_callbacks.add(self._reopened)

    async def stop(self, patience: float) -> None:
        """Cancel the consumer, waiting at most `patience` seconds for the channel and the
        write (not for the broker's answer: deliveries already on their way are handed over
        until the bus stops reading, unacked ones come back to the queue)."""
        self._stopped.set()
        self.channel.reopen_callbacks.discard(self._reopened)
        if self.channel.is_closed:
            return  # a closed channel delivers nothing, and a reopened one has no consumer
        with lost_not_cancelled():
            raw = await asyncio.wait_for(self.channel.get_underlay_channel(), patience)
            await asyncio.wait_for(raw.basic_cancel(self.tag, nowait=True), patience)

    async def _consume(self) -> None:
        with lost_not_cancelled():
            raw = await self.channel.get_underlay_channel()
            if self._stopped.is_set():
                return  # stop() came while we waited for the channel
            raw.on_consumer_cancel_callbacks.add(self._cancelled)
            self.direct = DirectDelivery.install(raw, self.tag, self._on_delivery)
            # The reopened channel and a resume after a cancel can race to consume: one does.
            with contextlib.suppress(aiormq.exceptions.DuplicateConsumerTag):
                await raw.basic_consume(self.queue.name, self._deliver, consumer_tag=self.tag)

    async def _deliver(self, message: DeliveredMessage) -> None:
        # Without DirectDelivery, aiormq runs each delivery's callback as a task: a synchronous
        # hand-over keeps order.
        self._on_delivery(message)

    async def _reopened(self, *_: Any) -> None:
        if self._stopped.is_set():
            return
        try:
            await self._consume()
        except self._transient as error:
            # aio-pika's callbacks swallow errors: without this the queue would go unconsumed.
            log.warning("cannot consume %r on the reopened channel (%r)", self.queue.name, error)
            self._resume_soon()

    async def _cancelled(self, frame: aiormq.spec.Basic.Cancel) -> None:
        if frame.consumer_tag != self.tag or self._stopped.is_set():
            return
        log.warning("the broker cancelled our consumer of %r; consuming again", self.queue.name)
        self._resume_soon()

    def _resume_soon(self) -> None:
        if self._resuming is None or self._resuming.done():
            self._resuming = asyncio.create_task(self._resume())

    async def _resume(self) -> None:
        # Never cancelled from outside: a cancel inside an RPC would close the channel (aiormq
        # answers it with a channel error), so stop() only sets the event this loop watches.
        while not self._stopped.is_set():
            try:
                with lost_not_cancelled():
                    await self._redeclare()
                    await self._consume()
                return
            except self._transient as error:
                log.warning("cannot consume %r again yet (%r)", self.queue.name, error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), RESUME_PATIENCE)
