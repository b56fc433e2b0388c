"""Sending what cannot be processed to `<queue>.dead`, with the reason in a header."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlmon.bus import Bus, Delivery, OutMessage
from mlmon.bus.topology import DEAD_SUFFIX
from mlmon.ops.status import ServiceStats
from mlmon.wire import (
    BATCH,
    HEADER_BATCH,
    HEADER_REASON,
    HEADER_SOURCE_QUEUE,
    JSON,
    Records,
    encode_batch,
)
from mlmon.wire.arrow import Kind, RecordColumns, row_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rejected:
    """A whole message, or one record cut out of a batch, and why it was refused."""

    queue: str
    body: bytes
    content_type: str | None
    reason: str
    headers: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def message(cls, delivery: Delivery, reason: str) -> Rejected:
        """The delivery unchanged."""
        return cls(delivery.queue, delivery.body, delivery.content_type, reason, delivery.headers)

    @classmethod
    def row(cls, delivery: Delivery, records: Records, index: int, reason: str) -> Rejected:
        """One record of a batch, as a batch of one: its good neighbours carry on."""
        body = encode_batch(
            [records.ids[index]],
            records.values[index : index + 1],
            records.sent_at[index : index + 1],
        )
        # Cut out of its batch, the record is no longer that batch.
        headers = {k: v for k, v in delivery.headers.items() if k != HEADER_BATCH}
        return cls(delivery.queue, body, BATCH, reason, headers)


def json_row(delivery: Delivery, body: bytes, reason: str) -> Rejected:
    """One record cut out of an Arrow batch, as the single JSON message it stands for."""
    headers = {k: v for k, v in delivery.headers.items() if k != HEADER_BATCH}
    return Rejected(delivery.queue, body, JSON, reason, headers)


def bad_arrow_rows(delivery: Delivery, columns: RecordColumns, kind: Kind) -> list[Rejected]:
    """The refused rows of an Arrow message (`RecordColumns.bad`), each as the single JSON
    message it stands for, in row order."""
    return [
        json_row(delivery, row_json(columns, i, kind), f"record {columns.ids[i]!r}: {reason}")
        for i, reason in sorted(columns.bad.items())
    ]


def too_large(delivery: Delivery, limit: int) -> str | None:
    if len(delivery.body) <= limit:
        return None
    return f"message of {len(delivery.body)} bytes exceeds MLMON_MAX_MESSAGE_BYTES={limit}"


async def dead_letter(bus: Bus, rejected: Sequence[Rejected], stats: ServiceStats) -> None:
    """Publish each rejected message to its queue's dead-letter queue (confirmed)."""
    by_queue: dict[str, list[OutMessage]] = {}
    for item in rejected:
        log.error("dead-lettering a message from %r: %s", item.queue, item.reason)
        headers = {
            **item.headers,
            HEADER_REASON: item.reason[:1000],
            HEADER_SOURCE_QUEUE: item.queue,
        }
        by_queue.setdefault(item.queue + DEAD_SUFFIX, []).append(
            OutMessage(item.body, headers, item.content_type or "application/octet-stream")
        )
        stats.counters["dead_lettered"] += 1
    for queue, messages in by_queue.items():
        await bus.publish(queue, messages)
