"""features: stream dataset rows to `features` and their true values to `y_true`, same id."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from mlmon.bus import Bus, OutMessage
from mlmon.dataset import load_dataset, row_order
from mlmon.ids import IdGenerator
from mlmon.settings import Settings
from mlmon.status import ServiceStats
from mlmon.wire import HEADER_SENT_AT, encode_features, encode_value

log = logging.getLogger("mlmon.features")

MAX_CHUNK = 500  # records per publish call when running flat out


async def run_features(
    settings: Settings, bus: Bus, stats: ServiceStats, stop: asyncio.Event
) -> int:
    """Send records until `count` is reached or `stop` is set; return how many were sent."""
    data = load_dataset(settings.dataset, settings.target)
    next_id = IdGenerator()
    rows = row_order(len(data.target), settings.order, settings.seed)
    log.info("streaming %r as run %s at %s records/s", data, next_id.run, settings.rate or "max")
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = 0
    stats.ready = True
    while not stop.is_set() and (settings.count is None or sent < settings.count):
        if settings.rate:
            due = int((loop.time() - started) * settings.rate) + 1 - sent
            if due <= 0:
                wait = started + sent / settings.rate - loop.time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(wait, 0.001))
                continue
        else:
            due = MAX_CHUNK
        if settings.count is not None:
            due = min(due, settings.count - sent)
        n = min(due, MAX_CHUNK)
        features, truths = [], []
        for _ in range(n):
            row = next(rows)
            record_id = next_id()
            headers = {HEADER_SENT_AT: time.time()}
            features.append(
                OutMessage(encode_features(record_id, data.features[row].tolist()), headers)
            )
            truths.append(OutMessage(encode_value(record_id, float(data.target[row])), headers))
        await asyncio.gather(
            bus.publish(settings.queue_features, features),
            bus.publish(settings.queue_y_true, truths),
        )
        sent += n
        stats.counters["sent"] += n
    log.info("sent %d records", sent)
    return sent
