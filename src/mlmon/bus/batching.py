"""Turning a stream of deliveries into batches, shared by both bus implementations."""

from __future__ import annotations

import asyncio
from typing import TypeVar

T = TypeVar("T")


async def _first(source: asyncio.Queue[T], stopped: asyncio.Event) -> T | None:
    if not source.empty():
        return source.get_nowait()
    getter = asyncio.ensure_future(source.get())
    stopper = asyncio.ensure_future(stopped.wait())
    try:
        await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not getter.done():
            getter.cancel()  # Queue.get is cancellation-safe: no item is lost
    if getter.done() and not getter.cancelled():
        return getter.result()
    return None if source.empty() else source.get_nowait()


async def next_batch(
    source: asyncio.Queue[T], max_batch: int, linger: float, stopped: asyncio.Event
) -> list[T] | None:
    """Wait for one item, then take what else is ready, lingering up to `linger` for a full batch.

    Returns None once `stopped` is set and nothing is left, so consumers drain before they stop.
    """
    first = await _first(source, stopped)
    if first is None:
        return None
    batch = [first]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + linger
    while len(batch) < max_batch:
        while len(batch) < max_batch and not source.empty():
            batch.append(source.get_nowait())
        remaining = deadline - loop.time()
        if len(batch) >= max_batch or remaining <= 0 or stopped.is_set():
            break
        try:
            batch.append(await asyncio.wait_for(source.get(), remaining))
        except TimeoutError:
            break
    return batch
