"""FailoverConnection: the next reconnection attempt goes to the next broker address."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest
from yarl import URL

from mlmon.bus.failover import FailoverConnection

NODES = ["amqp://g:g@127.0.0.1:5701/", "amqp://g:g@127.0.0.1:5702/", "amqp://g:g@127.0.0.1:5703/"]


async def test_each_failure_moves_to_the_next_address_round_the_list() -> None:
    connection = FailoverConnection(URL(NODES[1]), addresses=NODES)
    seen = [str(connection.url)]
    for _ in range(3):
        connection.move_on()
        seen.append(str(connection.url))
    assert seen == [NODES[1], NODES[2], NODES[0], NODES[1]]


async def test_one_address_stays() -> None:
    connection = FailoverConnection(URL(NODES[0]))
    connection.move_on()
    assert str(connection.url) == NODES[0]


def test_robust_connection_still_has_the_attempt_failover_wraps() -> None:
    """aio-pika's private reconnection attempt, which FailoverConnection overrides: an
    upgrade that renames it would silently stop the failover on failed attempts."""
    attempt = getattr(aio_pika.RobustConnection, "_RobustConnection__connect_transport")  # noqa: B009
    assert callable(attempt)
    assert "_on_connection_close" in vars(aio_pika.RobustConnection)


@pytest.mark.parametrize("closed", [1, 3], ids=["two-addresses", "four-addresses"])
async def test_a_lost_node_is_left_for_each_other_one_in_turn(broker_url: str, closed: int) -> None:
    """The real broker and `closed` addresses nobody listens on: once the connection to the
    broker is lost, the attempts go round every other address once each, and back to the
    broker (moving twice per failure would skip every other node, for ever with two)."""
    nodes = [
        broker_url,
        *(f"amqp://guest:guest@127.0.0.1:{port}/" for port in range(1, closed + 1)),
    ]
    tried: list[str] = []

    class Recording(FailoverConnection):
        async def _RobustConnection__connect_transport(self) -> None:
            try:
                await super()._RobustConnection__connect_transport()
            finally:  # the address moves, if it does, before the attempt: this one's
                tried.append(str(self.url))

    connection = Recording(URL(broker_url), addresses=nodes, reconnect_interval=0.1)
    await connection.connect(timeout=5)
    try:
        tried.clear()
        await connection.transport.connection.close()  # the node goes away
        for _ in range(100):
            if connection.connected.is_set() and len(tried) > closed:
                break
            await asyncio.sleep(0.05)
        assert connection.connected.is_set()
        assert tried == [*nodes[1:], broker_url]
    finally:
        await connection.close()
