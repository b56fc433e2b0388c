"""Sending a message that cannot be processed to `<queue>.dead`, with the reason in a header."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mlmon.bus import Bus, Delivery, OutMessage
from mlmon.status import ServiceStats
from mlmon.topology import DEAD_SUFFIX
from mlmon.wire import HEADER_REASON, HEADER_SOURCE_QUEUE

log = logging.getLogger("mlmon.dead")


async def dead_letter(
    bus: Bus, rejected: Sequence[tuple[Delivery, str]], stats: ServiceStats
) -> None:
    """Publish each rejected delivery, unchanged, to its queue's dead-letter queue (confirmed)."""
    by_queue: dict[str, list[OutMessage]] = {}
    for delivery, reason in rejected:
        log.error("dead-lettering a message from %r: %s", delivery.queue, reason)
        headers = {
            **delivery.headers,
            HEADER_REASON: reason[:1000],
            HEADER_SOURCE_QUEUE: delivery.queue,
        }
        by_queue.setdefault(delivery.queue + DEAD_SUFFIX, []).append(
            OutMessage(delivery.body, headers, content_type="application/octet-stream")
        )
        stats.counters["dead_lettered"] += 1
    for queue, messages in by_queue.items():
        await bus.publish(queue, messages)
