"""FailoverConnection: the next reconnection attempt goes to the next broker address."""

from __future__ import annotations

import aio_pika
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
