"""The dashboard's web app: the page, its static files, a JSON snapshot and a live event stream.

The page subscribes to `/api/events` (server-sent events: one `snapshot` event each time the
state changes, about once a second) and redraws; `EventSource` reconnects by itself if the
server restarts. `/api/snapshot` serves the same JSON for scripts and tests. When `closing`
is set, every open event stream ends its response properly, so the server can stop without
cancelling them mid-response (an ASGI traceback on every Ctrl-C with a tab open).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import msgspec
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from mlmon.dashboard.state import DashboardState

STATIC = Path(str(resources.files("mlmon.dashboard") / "static"))
POLL = 0.2  # seconds between looks at the state's version, per connected page


def create_app(state: DashboardState, closing: asyncio.Event | None = None) -> Starlette:
    closing = closing or asyncio.Event()

    async def page(_: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def snapshot(_: Request) -> Response:
        return Response(msgspec.json.encode(state.latest), media_type="application/json")

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[dict[str, str]]:
            seen = -1
            while not closing.is_set() and not await request.is_disconnected():
                if state.version != seen:
                    seen = state.version
                    yield {"event": "snapshot", "data": msgspec.json.encode(state.latest).decode()}
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closing.wait(), POLL)

        return EventSourceResponse(stream(), ping=15)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True, "version": state.version})

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/snapshot", snapshot),
            Route("/api/events", events),
            Route("/healthz", healthz),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
    )
