"""Publishes awaiting their confirms, a bounded number of records' worth, for a producer.

Why a producer does not simply await each publish: at a paced rate, awaiting stops the clock.
While the broker holds a confirm (a slow fsync of its write-ahead log, 15-550 ms now and then
on the development VM), the records that fall due meanwhile wait in the producer and are
stamped only when it goes on, so their wait never shows in the measured latency (coordinated
omission) and they reach the broker late. With the window, the producer publishes on time and
the broker's stall shows in every record it delays. When the broker falls behind for longer
than the window lasts, the producer waits for room: memory stays bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class PublishWindow:
    """Run publishes concurrently while at most `limit` records are unconfirmed.

    `on_confirmed(n)` is called as each publish of n records returns (every message confirmed).
    A publish that raises makes the next `add` or `drain` raise it: a producer stops loudly
    rather than carry on past records it could not send.
    """

    def __init__(self, limit: int, on_confirmed: Callable[[int], None]) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self._limit = limit
        self._on_confirmed = on_confirmed
        self._records = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None

    @property
    def records(self) -> int:
        """Records published and not yet confirmed."""
        return self._records

    async def add(self, records: int, publish: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start `publish()` (of `records` records) once the window has room for them.

        One publish larger than the whole window still goes, alone."""
        while self._tasks and self._records + records > self._limit:
            await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        self._raise_failure()
        task = asyncio.create_task(publish())
        self._records += records
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._settled(done, records))

    async def drain(self) -> None:
        """Wait until every publish has returned; raise the first failure."""
        while self._tasks:
            await asyncio.wait(self._tasks)
        self._raise_failure()

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()

    def _settled(self, task: asyncio.Task[None], records: int) -> None:
        self._tasks.discard(task)
        self._records -= records
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._failure = self._failure or error
            return
        self._on_confirmed(records)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
