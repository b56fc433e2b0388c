"""Publishes awaiting their confirms, a bounded number of records' worth, for a producer.

Why a producer does not simply await each publish: at a paced rate, awaiting stops the clock.
While the broker holds a confirm (a slow fsync of its write-ahead log, now and then), the
records that fall due meanwhile wait in the producer and are stamped only when it goes on, so
their wait never shows in the measured latency (coordinated omission) and they reach the broker
late. With the window, the producer publishes on time and the broker's stall shows in every
record it delays. When the broker falls behind for longer than the window lasts, the producer
waits for room: memory and tasks stay bounded.

Publishes in flight together may reach a queue in another order than they were started (a
retried one goes out after later ones): mlmon's consumers join by id and need no order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class PublishWindow:
    """Run publishes concurrently while at most `records` records and `calls` publishes are
    unconfirmed.

    `on_confirmed(n)` is called as each publish of n records returns (every message confirmed).
    A publish that raises, or is cancelled by anyone but `aclose`, makes the next `add` or
    `drain` raise: a producer stops loudly rather than carry on past records it did not send.
    """

    def __init__(self, records: int, calls: int, on_confirmed: Callable[[int], None]) -> None:
        if records < 1 or calls < 1:
            raise ValueError(f"a window needs room for a call: records={records}, calls={calls}")
        self._max_records = records
        self._max_calls = calls
        self._on_confirmed = on_confirmed
        self._records = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None
        self._closing = False

    @property
    def records(self) -> int:
        """Records published and not yet confirmed."""
        return self._records

    async def add(self, records: int, publish: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start `publish()` (of `records` records) once the window has room for it.

        One publish larger than the whole window still goes, alone."""
        while self._tasks and (
            self._records + records > self._max_records or len(self._tasks) >= self._max_calls
        ):
            self._raise_failure()
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

    async def aclose(self) -> None:
        """Cancel what is still in flight (its records were never counted) and wait for it."""
        self._closing = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _settled(self, task: asyncio.Task[None], records: int) -> None:
        self._tasks.discard(task)
        self._records -= records
        if task.cancelled():
            if not self._closing:
                self._failure = self._failure or RuntimeError(
                    f"a publish of {records} records was cancelled before its confirms"
                )
            return
        error = task.exception()
        if error is not None:
            self._failure = self._failure or error
            return
        self._on_confirmed(records)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
