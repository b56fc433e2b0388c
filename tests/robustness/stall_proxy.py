"""A TCP proxy in front of the broker that can stall a connection without closing it: what a
hung network or a broker that stops reading looks like to the client (no error, no bytes)."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit


class StallProxy:
    """Forwards 127.0.0.1:<port> to the broker; `stall()` stops forwarding (both ways with
    `both=True`) until `flow()`; `cut()` aborts every connection through it."""

    def __init__(self, broker_url: str) -> None:
        target = urlsplit(broker_url)
        self._target = (target.hostname or "127.0.0.1", target.port or 5672)
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._both = False
        self._transports: list[asyncio.WriteTransport] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> StallProxy:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()

    def url(self, heartbeat: int = 0) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/?heartbeat={heartbeat}"

    def stall(self, both: bool = False) -> None:
        self._both = both
        self._flowing.clear()

    def flow(self) -> None:
        self._flowing.set()

    def cut(self) -> None:
        for transport in self._transports:
            transport.abort()
        self._transports.clear()

    async def _connect(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        broker_in, broker_out = await asyncio.open_connection(*self._target)
        self._transports += [client_out.transport, broker_out.transport]
        await asyncio.gather(
            self._pipe(client_in, broker_out, upstream=True),
            self._pipe(broker_in, client_out, upstream=False),
        )

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, upstream: bool
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                if upstream or self._both:
                    await self._flowing.wait()
                data = await source.read(65536)
                if not data:
                    break
                # A read that was already waiting when the stall began must not slip through.
                if upstream or self._both:
                    await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        sink.transport.abort()
