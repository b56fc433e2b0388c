"""features: stream dataset rows to `features` and their true values to `y_true`, same id."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from mlmon.bus import Bus, OutMessage
from mlmon.bus.publish_window import PublishWindow
from mlmon.bus.topology import shard_groups
from mlmon.errors import ConfigError
from mlmon.ids import IdGenerator
from mlmon.model.columns_data import labels, record_bodies
from mlmon.model.dataset import Dataset, RowOrder, dataset_of
from mlmon.ops.status import ServiceStats
from mlmon.settings import Settings
from mlmon.wire import (
    BATCH,
    HEADER_BATCH,
    batch_records_within,
    encode_batch,
    encode_features,
    encode_value,
    sent_at_header,
    single_bytes_at_most,
)
from mlmon.wire.arrow import ARROW, ArrowDataset

log = logging.getLogger(__name__)

# An upper bound of a named record's Arrow bytes for batch sizing (~190 for 13 columns).
NAMED_RECORD_BYTES = 400
_json = msgspec.json.Encoder()

SINGLES_IN_FLIGHT = 500  # single-record messages per publish call when running flat out
BATCHES_PER_CALL = 8
# Paced, a call carries what fell due since the last one (a batch's linger's worth, or one
# single-record message): this many calls ride out a broker stall of ~5 s batched or ~1 s
# with single-record messages at 1,000 records/s before the producer waits.
PACED_CALLS_IN_FLIGHT = 1024


async def run_features(
    settings: Settings, bus: Bus, stats: ServiceStats, stop: asyncio.Event
) -> int:
    """Send records until `count` is reached or `stop` is set; return how many were sent."""
    data = dataset_of(settings)
    batch_size = records_per_message(settings, data.features.shape[1])
    if data.named:  # strings take more room than a float: keep well within the message limit
        batch_size = max(1, min(batch_size, settings.max_message_bytes // NAMED_RECORD_BYTES))
    next_id = IdGenerator()
    order = RowOrder(len(data.target), settings.order, settings.seed)
    # Flat out, a few batches go out per round trip, so confirms overlap.
    chunk = batch_size * BATCHES_PER_CALL if settings.batched else SINGLES_IN_FLIGHT
    log.info("streaming %r as run %s at %s records/s", data, next_id.run, settings.rate or "max")
    linger = settings.batch_linger_ms / 1000
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = 0  # handed to the broker; the "sent" counter counts what it has confirmed

    def confirmed(records: int) -> None:
        stats.counters["sent"] += records

    # Flat out, each call fills the window and waits for its confirms; paced, the small
    # calls go on while earlier ones wait (see PublishWindow).
    window = PublishWindow(chunk, PACED_CALLS_IN_FLIGHT, confirmed)
    table = arrow_dataset(data) if data.named and settings.batched else None
    stats.ready = True
    try:
        while not stop.is_set() and (settings.count is None or sent < settings.count):
            if settings.rate:
                due = int((loop.time() - started) * settings.rate) + 1 - sent
                # Batched, the first due record waits up to the linger for company.
                first_due = started + sent / settings.rate + (linger if settings.batched else 0)
                if due <= 0 or (due < batch_size and loop.time() < first_due):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), max(first_due - loop.time(), 0.0005))
                    continue
            else:
                due = chunk
            if settings.count is not None:
                due = min(due, settings.count - sent)
            n = min(due, chunk)
            rows = order.take(n)
            ids = next_id.take(n) if data.ids is None else data.record_ids(next_id.run, sent, rows)
            now = time.time()
            if data.named:
                features, truths = _named(
                    ids, data, rows, now, (batch_size, settings.metric_workers), table
                )
            elif settings.batched:
                features, truths = _batches(ids, data, rows, now, batch_size)
            else:
                features, truths = _singles(ids, data, rows, now)
            await window.add(n, functools.partial(_publish_both, bus, settings, features, truths))
            sent += n
        await window.drain()
    finally:
        await window.aclose()  # only runs anything when cancelled or after a failed publish
    log.info("sent %d records", sent)
    return sent


def records_per_message(settings: Settings, columns: int) -> int:
    """Records per message for `columns` features: MLMON_BATCH_SIZE, fewer when a batch that
    big would exceed MLMON_MAX_MESSAGE_BYTES, where every consumer would dead-letter it (2,000
    records of 100 features take 1.7 MB); ConfigError when not even one record fits."""
    limit = settings.max_message_bytes
    if not settings.batched:
        if single_bytes_at_most(columns) > limit:
            msg = (
                f"a record of {columns} features can take {single_bytes_at_most(columns)} bytes "
                f"as JSON, over MLMON_MAX_MESSAGE_BYTES={limit}: raise it"
            )
            raise ConfigError(msg)
        return 1
    records = batch_records_within(limit, columns, settings.batch_size)
    if records == 0:
        msg = (
            f"one record of {columns} features does not fit in MLMON_MAX_MESSAGE_BYTES={limit} "
            "bytes: raise it"
        )
        raise ConfigError(msg)
    if records < settings.batch_size:
        log.warning(
            "batches of %d records, not MLMON_BATCH_SIZE=%d: %d records of %d features could "
            "exceed MLMON_MAX_MESSAGE_BYTES=%d",
            records, settings.batch_size, settings.batch_size, columns, limit,
        )  # fmt: skip
    return records


async def _publish_both(
    bus: Bus, settings: Settings, features: list[OutMessage], truths: list[OutMessage]
) -> None:
    both = [
        asyncio.ensure_future(bus.publish(settings.queue_features, features)),
        asyncio.ensure_future(bus.publish(settings.queue_y_true, truths)),
    ]
    try:
        await asyncio.gather(*both)
    except BaseException:  # one failed, or we are cancelled: leave nothing running
        for publish in both:
            publish.cancel()
        await asyncio.gather(*both, return_exceptions=True)
        raise


def _batches(
    ids: list[str], data: Dataset, rows: npt.NDArray[np.intp], now: float, size: int
) -> tuple[list[OutMessage], list[OutMessage]]:
    features, truths = [], []
    for start in range(0, len(ids), size):
        part = slice(start, start + size)
        stamps = np.full(len(ids[part]), now)
        # Ids are unique, so the first one names the batch.
        headers = {HEADER_BATCH: ids[start]}
        features.append(
            OutMessage(encode_batch(ids[part], data.features[rows[part]], stamps), headers, BATCH)
        )
        truths.append(
            OutMessage(
                encode_batch(ids[part], data.target[rows[part]], stamps),
                headers,
                BATCH,
                key=ids[start],  # a sharded metric: the batch goes whole to its name's shard
            )
        )
    return features, truths


def _named(
    ids: list[str],
    data: Dataset,
    rows: npt.NDArray[np.intp],
    now: float,
    sizes: tuple[int, int],
    table: ArrowDataset | None,
) -> tuple[list[OutMessage], list[OutMessage]]:
    """Records with named features (categories, missing values) or class labels: Arrow
    batches taken from `table` (the dataset as Arrow), or without it one JSON message each
    (the single form with an object body). `sizes`: records per batch, and metric workers,
    whose shards each batch keeps to (both halves of a record must reach its own shard). A
    batch is named by its first id, as the numeric ones are."""
    if table is None:
        truth = labels(data, rows)
        values: list[Any] = truth if isinstance(truth, list) else truth.tolist()
        tags = _tags(data, rows)
        headers = sent_at_header(now)

        def single(record: dict[str, Any]) -> OutMessage:
            return OutMessage(_json.encode(record), headers, key=record["id"])

        bodies = record_bodies(data, rows)
        return (
            [
                single({"id": i, "body": b, "tags": t} if t else {"id": i, "body": b})
                for i, b, t in zip(ids, bodies, tags or [{}] * len(ids), strict=True)
            ],
            [single({"id": i, "body": v}) for i, v in zip(ids, values, strict=True)],
        )
    features, truths = [], []
    size, workers = sizes
    for group in shard_groups(ids, workers):
        for start in range(0, len(group), size):
            part = group[start : start + size]
            part_ids = [ids[i] for i in part]
            taken = rows[part]
            stamps = np.full(len(taken), now)
            # Named as the numeric batches are: the metric joins the two answers whole.
            name = {HEADER_BATCH: part_ids[0]}
            body, truth_body = table.messages(part_ids, taken, stamps)
            features.append(OutMessage(body, name, ARROW))
            truths.append(OutMessage(truth_body, name, ARROW, key=part_ids[0]))
    return features, truths


def arrow_dataset(data: Dataset) -> ArrowDataset:
    """The dataset as Arrow arrays, built once before streaming: each batch takes its rows."""
    every = np.arange(len(data.target), dtype=np.intp)
    return ArrowDataset(data.columns, labels(data, every), data.tags or None)


def _tags(data: Dataset, rows: npt.NDArray[np.intp]) -> list[dict[str, str]] | None:
    """The rows' tags from the dataset's tag columns (an empty cell is no tag), or None."""
    if not data.tags:
        return None
    names = list(data.tags)
    columns = [column[rows].tolist() for column in data.tags.values()]
    return [
        {name: value for name, value in zip(names, row, strict=True) if value is not None}
        for row in zip(*columns, strict=True)
    ]


def _singles(
    ids: list[str], data: Dataset, rows: npt.NDArray[np.intp], now: float
) -> tuple[list[OutMessage], list[OutMessage]]:
    headers = sent_at_header(now)
    features = [
        OutMessage(encode_features(i, data.features[r].tolist()), headers)
        for i, r in zip(ids, rows, strict=True)
    ]
    truths = [
        OutMessage(encode_value(i, float(data.target[r])), headers, key=i)
        for i, r in zip(ids, rows, strict=True)
    ]
    return features, truths
