"""A robust connection to any node of a RabbitMQ cluster: when its node goes away (or cannot be
reached), the next attempt goes to the next address of the list, round the list.

aio-pika's `connect_robust` takes one URL and reconnects to it forever. `FailoverConnection`
is its `RobustConnection` with the address moved on once before each attempt that follows a
failure (the connection closed under it, or the last attempt failed). Channels, queues and
consumers are then restored on the new node as after any reconnection (the cluster's quorum
queues are there).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from aio_pika import RobustConnection
from aio_pika.abc import AbstractRobustConnection
from yarl import URL

from mlmon.settings import redact_url

log = logging.getLogger(__name__)


class FailoverConnection(RobustConnection):
    """A `RobustConnection` that moves to the next broker address after every failure."""

    def __init__(self, url: URL, *args: Any, addresses: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(url, *args, **kwargs)
        self._addresses = [URL(address) for address in addresses] or [url]
        self._current = self._addresses.index(url) if url in self._addresses else 0
        # Set by a failure (the connection closed under it, or an attempt failed), taken by the
        # next attempt: one failure is often reported twice (a refused attempt also closes the
        # connection), and moving twice would skip every other node.
        self._failed = False

    def move_on(self) -> None:
        """Aim the next connection attempt at the next address."""
        if len(self._addresses) < 2:
            return
        self._current = (self._current + 1) % len(self._addresses)
        self.url = self._addresses[self._current]
        log.warning("broker connection: trying %s next", redact_url(str(self.url)))

    async def _on_connection_close(self, closing: Any) -> None:
        if not (self._close_called or self.is_closed):
            self._failed = True
        await super()._on_connection_close(closing)

    # RobustConnection's private `__connect_transport` (name-mangled) makes each reconnection
    # attempt; wrapped, so that the attempt after a failure goes to the next node.
    async def _RobustConnection__connect_transport(self) -> None:
        if self._failed:
            self._failed = False
            self.move_on()
        try:
            await getattr(super(), "_RobustConnection__connect_transport")()  # noqa: B009
        except Exception:
            self._failed = True
            raise


async def connect_failover(
    addresses: Sequence[str], first: int, name: str, seconds: float
) -> AbstractRobustConnection:
    """A robust connection, first to `addresses[first]` (within `seconds`), later to
    whichever node answers."""
    connection = FailoverConnection(
        URL(addresses[first]),
        addresses=addresses,
        client_properties={"connection_name": name},
    )
    await connection.connect(timeout=seconds)
    return connection
