"""Publish many messages on one aiormq channel in one socket write, each with its own confirm.

Why not aio-pika's `Exchange.publish` per message: it calls aiormq's `basic_publish`, which takes
the channel lock, queues that one message's frames and waits, still holding the lock, until
the connection's writer has sent them; only then may the next message start. One lock, one
writer round trip and one socket write per message. That costs the client and the broker far
more CPU per message than writing the frames of many messages together, which the broker reads
in far fewer packets (`benchmarks/bench_publish.py` measures both ways).

Here the channel lock is taken once per call (and held until the writer has drained the
frames, as `basic_publish` holds it per message), and each message gets its delivery tag, its
confirmation future and its message-id entry exactly as `basic_publish` registers them, so
aiormq's own reader settles them: a Basic.Ack resolves, a Basic.Nack raises `DeliveryError`, a
Basic.Return of a mandatory message raises `PublishError` (the channel is opened with
`on_return_raises`), and a channel that closes rejects every future it created.

This relies on aiormq internals no release promises to keep, though none is underscored:
`Channel.lock`, `.number`, `.max_content_size`, `.delivery_tag`, `.confirmations`,
`.message_id_delivery_tag`, `.write_queue`, `.create_future` and `aiormq.abc.ChannelFrame`.
pyproject.toml bounds aiormq to the tested minor; tests/unit/bus/test_amqp_internals.py fails,
naming the piece, if an upgrade drops one, and tests/integration/bus/test_rabbit_bus.py tests
the behaviour over RabbitMQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiormq
import pamqp.frame
from aiormq.abc import ChannelFrame
from pamqp.commands import Basic
from pamqp.constants import FRAME_BODY, FRAME_HEADER

PERSISTENT = 2  # AMQP delivery mode: the broker writes the message to disk before confirming

# Message ids only need to be unique among one channel's unconfirmed publishes (aiormq maps a
# returned message back to its delivery tag by id); a process-wide counter is cheaper than a
# random UUID per message. Fixed width, so that a message's encoded properties are those of
# its headers with the id appended (see properties_before_id).
MESSAGE_ID_WIDTH = 16
_message_ids = itertools.count()
_FRAME_END = b"\xce"
_CACHEABLE = frozenset({str, int, bool, type(None)})


@dataclass(frozen=True, slots=True)
class Outgoing:
    body: bytes
    headers: dict[str, Any] | None
    content_type: str


async def send_confirmed(
    channel: aiormq.abc.AbstractChannel,
    exchange: str,
    routing_key: str,
    messages: Sequence[Outgoing],
) -> list[asyncio.Future[Any]]:
    """Write `messages`, persistent and mandatory, in order, and return one future per message
    that the broker's confirm settles: a result for a Basic.Ack, `DeliveryError` for a nack,
    `PublishError` for a return, the connection's error if it closes first. Every future
    settles one way or another while its connection lives or when it dies, so waiting for them
    never needs a resend on a mere timeout (which would duplicate what is still in flight).

    Returns once the frames are written and drained, like `basic_publish`, holding the channel
    lock until then (or once the connection died meanwhile); if it raises, none of the messages
    will be confirmed: send them again."""
    if not messages:
        return []
    raw: Any = channel  # the concrete aiormq.Channel: its bookkeeping is not in the ABC
    number = raw.number
    publish_frame = pamqp.frame.marshal(
        Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=True), number
    )
    max_content = raw.max_content_size
    # Messages of one call mostly carry equal headers (a batch's send time, the model's name):
    # encode each distinct set once.
    properties: dict[Hashable, bytes] = {}
    async with raw.lock:  # raises ChannelInvalidStateError if the channel is closed
        first_tag = raw.delivery_tag + 1
        futures: list[asyncio.Future[Any]] = []
        ids: list[str] = []
        parts: list[bytes] = []
        drained: asyncio.Future[Any] | None = None
        try:
            for message in messages:
                raw.delivery_tag += 1
                message_id = f"{next(_message_ids):0{MESSAGE_ID_WIDTH}x}"
                key = _properties_key(message)
                encoded = properties.get(key) if key is not None else None
                if encoded is None:
                    encoded = properties_before_id(message)
                    if key is not None:
                        properties[key] = encoded
                future = raw.create_future()
                raw.confirmations[raw.delivery_tag] = future
                raw.message_id_delivery_tag[message_id] = raw.delivery_tag
                futures.append(future)
                ids.append(message_id)
                parts.append(publish_frame)
                parts += content_frames(number, message.body, encoded, message_id, max_content)
            drained = raw.create_future()
            await raw.write_queue.put(
                ChannelFrame(payload=b"".join(parts), should_close=False, drain_future=drained)
            )
        except BaseException:
            # Nothing reached the writer: give the tags back while still holding the lock, so
            # the broker's numbering and ours stay the same.
            raw.delivery_tag = first_tag - 1
            for offset, (future, message_id) in enumerate(zip(futures, ids, strict=True)):
                raw.confirmations.pop(first_tag + offset, None)
                raw.message_id_delivery_tag.pop(message_id, None)
                future.cancel()
            if drained is not None:
                drained.cancel()
            raise
        for future, message_id in zip(futures, ids, strict=True):
            future.add_done_callback(_forget(raw, message_id))
        # Back-pressure, and the next batch's frames after ours: wait, still holding the lock,
        # until the writer has handed the frames to the socket and drained it. If the channel
        # or connection dies meanwhile, the broker may have confirmed the first messages
        # already: each future says what became of its message, so no failure is raised here.
        await asyncio.wait([drained])
    return futures


async def publish_confirmed(
    channel: aiormq.abc.AbstractChannel,
    exchange: str,
    routing_key: str,
    messages: Sequence[Outgoing],
) -> list[BaseException | None]:
    """`send_confirmed`, then wait for every confirm: per message, None or why not."""
    confirms = await send_confirmed(channel, exchange, routing_key, messages)
    if confirms:
        await asyncio.wait(confirms)
    return [outcome(future) for future in confirms]


@contextlib.contextmanager
def lost_not_cancelled() -> Iterator[None]:
    """Around any await on aiormq. aiormq rejects its futures with a CancelledError *instance*
    when it finds a connection stuck (missed heartbeats): a CancelledError while our task is
    not being cancelled is that lost connection; raise it as the connection error it is."""
    try:
        yield
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        msg = "the connection was given up (stuck) before the broker answered"
        raise aiormq.exceptions.AMQPConnectionError(msg) from None


def outcome(future: asyncio.Future[Any]) -> BaseException | None:
    """None for a confirmed message, else why it was not (not settled yet counts as lost)."""
    if not future.done():
        return aiormq.exceptions.ChannelInvalidStateError("closed before its confirm")
    if future.cancelled():
        return aiormq.exceptions.AMQPConnectionError("its confirm was cancelled")
    return future.exception()


def _properties_key(message: Outgoing) -> Hashable | None:
    """What a message's encoded properties depend on, if its header values are simple: equal
    keys must mean equal bytes on the wire, which holds for these types with the type in the
    key (1, 1.0 and True are equal but encode differently) but not for floats (0.0 and -0.0),
    Decimals (1.0 and 1.00) or nested tables."""
    items = message.headers.items() if message.headers else ()
    if not all(type(value) in _CACHEABLE for _name, value in items):
        return None
    return (message.content_type, tuple((name, type(value), value) for name, value in items))


def properties_before_id(message: Outgoing) -> bytes:
    """The AMQP-encoded properties of `message`, persistent, without the last bytes: its
    message id (the last property we set: AMQP encodes properties in a fixed order)."""
    placeholder = "0" * MESSAGE_ID_WIDTH
    encoded = Basic.Properties(
        content_type=message.content_type,
        headers=message.headers or None,
        delivery_mode=PERSISTENT,
        message_id=placeholder,
    ).marshal()
    return encoded[: -len(placeholder)]


def content_frames(
    channel: int, body: bytes, properties: bytes, message_id: str, max_content: int
) -> list[bytes]:
    """A message's content header frame and body frames (what pamqp.frame.marshal makes of a
    ContentHeader and ContentBody), the properties encoded beforehand up to the message id."""
    payload = b"".join(
        (
            struct.pack(">HxxQ", Basic.frame_id, len(body)),
            properties,
            message_id.encode("ascii"),
        )
    )
    frames = [struct.pack(">BHI", FRAME_HEADER, channel, len(payload)) + payload + _FRAME_END]
    for start in range(0, len(body), max_content):
        chunk = body[start : start + max_content]
        frames.append(struct.pack(">BHI", FRAME_BODY, channel, len(chunk)) + chunk + _FRAME_END)
    return frames


def _forget(channel: Any, message_id: str) -> Any:
    def forget(_: asyncio.Future[Any]) -> None:
        channel.message_id_delivery_tag.pop(message_id, None)

    return forget
