"""The metric's disk work in its own thread: a cancellation never leaves it running."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlmon.services.metric.service import _in_thread


async def test_a_cancelled_disk_call_finishes_before_the_cancellation_goes_on() -> None:
    """Cancelled twice while its fsync runs, the caller still waits for it: the clean-up
    that follows (rollback, close) must not touch the store or the log meanwhile."""
    started, finished = threading.Event(), threading.Event()

    def slow_commit() -> int:
        started.set()
        time.sleep(0.3)
        finished.set()
        return 1

    with ThreadPoolExecutor(max_workers=1) as pool:
        task = asyncio.create_task(_in_thread(pool, slow_commit))
        await asyncio.to_thread(started.wait)
        task.cancel()
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert finished.is_set()
        assert await _in_thread(pool, lambda: 7) == 7
