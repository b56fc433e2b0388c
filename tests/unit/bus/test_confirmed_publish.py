"""The publish path: hand-assembled frames are exactly what pamqp would marshal; a lost
connection is told apart from a cancellation."""

from __future__ import annotations

import asyncio

import pamqp.frame
import pytest
from aiormq.exceptions import AMQPConnectionError
from hypothesis import given
from hypothesis import strategies as st
from pamqp.body import ContentBody
from pamqp.commands import Basic
from pamqp.header import ContentHeader

from mlmon.bus.confirmed_publish import (
    MESSAGE_ID_WIDTH,
    PERSISTENT,
    Outgoing,
    content_frames,
    lost_not_cancelled,
    properties_before_id,
    send_confirmed,
)

header_values = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
    st.floats(width=32, allow_nan=False, allow_infinity=False),  # pamqp sends 32-bit floats
    st.booleans(),
)


@given(
    body=st.binary(max_size=300),
    headers=st.none() | st.dictionaries(st.text(min_size=1, max_size=10), header_values),
    content_type=st.sampled_from(["application/json", "application/x-mlmon-batch", ""]),
    channel=st.integers(min_value=1, max_value=2047),
    max_content=st.integers(min_value=1, max_value=400),
    number=st.integers(min_value=0, max_value=16**MESSAGE_ID_WIDTH - 1),
)
def test_frames_match_pamqp(
    body: bytes,
    headers: dict[str, object] | None,
    content_type: str,
    channel: int,
    max_content: int,
    number: int,
) -> None:
    message_id = f"{number:0{MESSAGE_ID_WIDTH}x}"
    properties = Basic.Properties(
        content_type=content_type,
        headers=headers or None,
        delivery_mode=PERSISTENT,
        message_id=message_id,
    )
    expected = [pamqp.frame.marshal(ContentHeader(0, len(body), properties), channel)]
    expected += [
        pamqp.frame.marshal(ContentBody(body[start : start + max_content]), channel)
        for start in range(0, len(body), max_content)
    ]
    encoded = properties_before_id(Outgoing(body, headers, content_type))
    assert content_frames(channel, body, encoded, message_id, max_content) == expected
    # and pamqp reads the message id back from the header frame
    _, _, frame = pamqp.frame.unmarshal(expected[0])
    assert frame.properties.message_id == message_id


async def test_a_future_rejected_with_a_cancelled_error_is_a_lost_connection() -> None:
    """aiormq rejects a stuck connection's futures with a CancelledError instance: the waiter
    sees a connection error it can retry on, not a cancellation of its own task."""
    rejected = asyncio.get_running_loop().create_future()
    rejected.set_exception(asyncio.CancelledError())
    with pytest.raises(AMQPConnectionError), lost_not_cancelled():
        await rejected


async def test_our_own_cancellation_still_cancels() -> None:
    never = asyncio.get_running_loop().create_future()

    async def wait() -> None:
        with lost_not_cancelled():
            await never

    waiting = asyncio.create_task(wait())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert waiting.cancelled()


async def test_a_confirmed_future_gives_its_result() -> None:
    confirmed = asyncio.get_running_loop().create_future()
    confirmed.set_result("ack")
    with lost_not_cancelled():
        assert await confirmed == "ack"


class _FakeChannel:
    """The parts of aiormq.Channel that send_confirmed uses; the writer drains at once."""

    def __init__(self) -> None:
        self.number = 1
        self.max_content_size = 131_064
        self.delivery_tag = 0
        self.confirmations: dict[int, asyncio.Future[object]] = {}
        self.message_id_delivery_tag: dict[str, int] = {}
        self.message_ids: list[str] = []  # every id ever registered, in order
        self.written: list[bytes] = []
        self._lock = asyncio.Lock()
        self.write_queue = self

    @property
    def lock(self) -> asyncio.Lock:
        return self._lock

    def create_future(self) -> asyncio.Future[object]:
        return asyncio.get_running_loop().create_future()

    async def put(self, frame: object) -> None:
        self.message_ids += list(self.message_id_delivery_tag)
        self.written.append(frame.payload)  # type: ignore[attr-defined]
        frame.drain_future.set_result(None)  # type: ignore[attr-defined]


def _headers_of(payload: bytes) -> list[object]:
    """The headers of every message in a written payload, as pamqp decodes them."""
    found, offset = [], 0
    while offset < len(payload):
        consumed, _, frame = pamqp.frame.unmarshal(payload[offset:])
        if isinstance(frame, ContentHeader):
            found.append(frame.properties.headers)
        offset += consumed
    return found


simple_or_tricky = st.one_of(
    header_values,
    st.decimals(places=2, min_value=-1000, max_value=1000),
    st.sampled_from([0.0, -0.0, 1, 1.0, True]),
)


@given(
    batch=st.lists(
        st.tuples(
            st.binary(max_size=50),
            st.none() | st.dictionaries(st.sampled_from(["a", "b"]), simple_or_tricky),
        ),
        min_size=1,
        max_size=8,
    )
)
async def test_a_whole_call_is_what_pamqp_makes_of_each_message(
    batch: list[tuple[bytes, dict[str, object] | None]],
) -> None:
    """Several messages in one call, headers repeating or equal-looking (1.0 and 1.00, 0.0
    and -0.0, 1 and True): the written bytes are pamqp's, message by message."""
    channel = _FakeChannel()
    messages = [Outgoing(body, headers, "application/json") for body, headers in batch]
    await send_confirmed(channel, "", "q", messages)  # type: ignore[arg-type]
    publish = pamqp.frame.marshal(
        Basic.Publish(exchange="", routing_key="q", mandatory=True), channel.number
    )
    expected = []
    for message, message_id in zip(messages, channel.message_ids, strict=True):
        properties = Basic.Properties(
            content_type=message.content_type,
            headers=message.headers or None,
            delivery_mode=PERSISTENT,
            message_id=message_id,
        )
        expected.append(publish)
        expected.append(pamqp.frame.marshal(ContentHeader(0, len(message.body), properties), 1))
        if message.body:
            expected.append(pamqp.frame.marshal(ContentBody(message.body), 1))
    assert channel.written == [b"".join(expected)]


async def test_equal_looking_headers_of_other_types_are_encoded_apart() -> None:
    """1, 1.0 and True compare equal but are different AMQP field types: the encoding shared
    between equal headers must not mix them up; nested tables are encoded one by one."""
    channel = _FakeChannel()
    headers: list[dict[str, object] | None] = [
        {"n": 1},
        {"n": True},
        {"n": 1.0},
        {"n": 1},
        {"n": {"inner": 2}},
        None,
        {"n": {"inner": 3}},
    ]
    messages = [Outgoing(b"x", h, "application/json") for h in headers]
    confirms = await send_confirmed(channel, "", "q", messages)  # type: ignore[arg-type]
    assert len(confirms) == len(messages) == channel.delivery_tag
    (payload,) = channel.written
    decoded = _headers_of(payload)
    assert decoded == headers
    assert [type(h["n"]) for h in decoded[:4]] == [int, bool, float, int]  # type: ignore[index]
