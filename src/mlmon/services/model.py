"""model: predict each feature vector and publish the prediction to `y_pred`, keeping the id.

A prediction goes out in the form its features came in: a batch for a batch, the seeds' single
JSON record for a single record, so a seed metric service can read what a seed features
service sent through us.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from mlmon.arrays import Floats
from mlmon.bus import CONSUMER_LINGER, Bus, Delivery, OutMessage
from mlmon.bus.topology import shard_groups
from mlmon.errors import DecodeError
from mlmon.model.predictors import Predictor, width_problem
from mlmon.model.records import ColumnKinds
from mlmon.ops.alert_actions import Alerting
from mlmon.ops.drift import LiveDrift
from mlmon.ops.status import ServiceStats
from mlmon.services.dead_letters import Rejected, dead_letter, too_large
from mlmon.services.drift_rounds import DRIFT_EVERY, drift_round, refresh_drift
from mlmon.services.model_arrow import ArrowFeatures, arrow_inputs, decode_arrow, predict_arrow
from mlmon.services.model_named import Named, body_of, predict_named, uses_named_path
from mlmon.settings import Settings
from mlmon.wire import (
    BATCH,
    HEADER_BATCH,
    HEADER_FEATURES_FOR,
    HEADER_MODEL,
    HEADER_MODEL_VERSION,
    FeatureRecord,
    Records,
    decode_features,
    decode_records,
    encode_batch,
    encode_value,
    header_sent_at,
    header_str,
    record_key,
    sent_at_header,
)
from mlmon.wire.arrow import ARROW

log = logging.getLogger(__name__)
T = TypeVar("T")

# Batches whose predictions may await their confirms while the next batch is predicted. Two:
# the next batch's publish need not wait for the one before it (so a slow broker fsync takes
# both in one go), yet the loop soon stops taking what is ready. With a prefetch's worth in
# flight it took each delivery as soon as it came, one or two singles a batch: a publish
# call, its confirms and an ack for each, which cost the model and the broker more CPU with
# single-record messages (bench_pipeline --scenario single).
BATCHES_IN_FLIGHT = 2


@dataclass
class _Message:
    delivery: Delivery
    records: Records
    usable: np.ndarray  # rows that are finite


@dataclass
class _Single:
    """A single-record message, kept without numpy: per record, numpy's calls cost more than
    the prediction."""

    delivery: Delivery
    record: FeatureRecord  # finite: decode_features refuses NaN and Infinity
    sent_at: float | None


async def run_model(
    settings: Settings,
    bus: Bus,
    predictor: Predictor,
    stats: ServiceStats,
    drift: LiveDrift | None = None,
    alerting: Alerting | None = None,
) -> None:
    """Consume `features` until the bus stops; ack each batch once its predictions are confirmed."""
    log.info(
        "predicting with %s %s (%d features)",
        predictor.name,
        predictor.version,
        predictor.n_features,
    )
    stats.ready = True
    headers = {HEADER_MODEL: predictor.name, HEADER_MODEL_VERSION: predictor.version}
    if forwards_features(settings, predictor):
        # The metric service estimates a regressor's loss from each prediction's features.
        headers[HEADER_FEATURES_FOR] = "estimation"
    refresher = (
        asyncio.create_task(
            refresh_drift(drift, stats, max(settings.status_interval, DRIFT_EVERY), alerting)
        )
        if drift is not None
        else None
    )
    try:
        await _predict_stream(settings, bus, predictor, stats, headers, drift)
    finally:
        if refresher is not None and drift is not None:
            refresher.cancel()
            await drift_round(drift, stats, alerting)  # the last word, for the final status


def forwards_features(settings: Settings, predictor: Predictor) -> bool:
    """Whether predictions carry their features: for a regressor's estimation (DLE needs them;
    a classifier's scores suffice), only when a reference turns estimation on."""
    return settings.reference is not None and (predictor.task or settings.task) == "regression"


async def _predict_stream(
    settings: Settings,
    bus: Bus,
    predictor: Predictor,
    stats: ServiceStats,
    headers: dict[str, str],
    drift: LiveDrift | None,
) -> None:
    """Predict batch after batch while earlier batches' predictions await their confirms.

    Awaiting each publish's confirms (a write-ahead log fsync in the broker) before taking the
    next batch held up some batches by a broker fsync, which showed in the latency. A
    batch is still acked only once its own publishes are confirmed, and in delivery order. At
    most BATCHES_IN_FLIGHT batches are in flight; a failed publish cancels the loop at once
    and its error comes out as if it had been awaited."""
    queue = settings.features_queue_of_model
    kinds = ColumnKinds.of(predictor)  # which named features hold categories
    forward = HEADER_FEATURES_FOR in headers
    room = asyncio.Semaphore(BATCHES_IN_FLIGHT)
    previous: asyncio.Task[None] | None = None
    try:
        async with asyncio.TaskGroup() as in_flight:
            async for batch in bus.batches(queue, settings.consumer_prefetch, CONSUMER_LINGER):
                messages, singles, named, arrows, rejected = _decode(
                    batch, predictor, settings.max_message_bytes
                )
                usable = sum(int(m.usable.sum()) for m in messages) + len(singles) + len(named)
                usable += sum(len(item.rows) for item in arrows)
                if drift is not None:
                    _observe(drift, predictor, named, arrows)
                outgoing, failed = _predict(
                    predictor, messages, headers, drift, settings.metric_workers
                )
                more, failed_singles = _predict_singles(predictor, singles, headers, drift)
                outgoing += more
                failed += failed_singles
                segment = settings.segment_feature_names
                more, failed_named = predict_named(
                    predictor, named, headers, kinds, drift, segment, forward
                )
                outgoing += more
                failed += failed_named
                more, failed_arrow = predict_arrow(
                    predictor, arrows, headers, drift, kinds, segment, forward,
                    settings.metric_workers,
                )  # fmt: skip
                outgoing += more
                failed += failed_arrow
                rejected += failed
                await room.acquire()
                previous = in_flight.create_task(
                    _publish_and_ack(
                        bus, settings.queue_y_pred, outgoing, rejected, batch, stats,
                        usable - len(failed), previous,
                    )
                )  # fmt: skip
                previous.add_done_callback(lambda _: room.release())
    except BaseExceptionGroup as group:
        first, *others = group.exceptions
        for other in others:
            log.error("also failed with the model loop: %r", other)
        raise first from None


async def _publish_and_ack(
    bus: Bus,
    queue: str,
    outgoing: list[OutMessage],
    rejected: list[Rejected],
    batch: list[Delivery],
    stats: ServiceStats,
    predicted: int,
    previous: asyncio.Task[None] | None,
) -> None:
    """One batch's predictions and refusals, confirmed; then, once the batch before it is
    acked, the batch. Acks go in delivery order: the bus acks cumulatively (the highest tag,
    `multiple`), and an ack out of order would cover the earlier batch before its confirms,
    then repeat a tag, which the broker answers by closing the channel."""
    if outgoing:
        await bus.publish(queue, outgoing)
    if rejected:
        await dead_letter(bus, rejected, stats)
    if previous is not None:
        await previous  # its failure is this batch's too: nothing after it may be acked
    await bus.ack(batch)
    stats.counters["predicted"] += predicted


def _decode(
    batch: list[Delivery], predictor: Predictor, max_bytes: int
) -> tuple[list[_Message], list[_Single], list[Named], list[ArrowFeatures], list[Rejected]]:
    messages, singles, named, rejected = [], [], [], []
    arrows: list[ArrowFeatures] = []
    n_features = predictor.n_features
    for delivery in batch:
        if (reason := too_large(delivery, max_bytes)) is not None:
            rejected.append(Rejected.message(delivery, reason))
            continue
        if delivery.content_type == ARROW:
            if (item := decode_arrow(delivery, rejected)) is not None:
                arrows.append(item)
            continue
        if delivery.content_type != BATCH:
            try:
                record = decode_features(delivery.body)
            except DecodeError as error:
                rejected.append(Rejected.message(delivery, str(error)))
                continue
            if record.named is None:  # a vector: its width first, whichever path it takes
                reason = width_problem([record.id], len(record.vector), n_features)
                if reason is not None:
                    rejected.append(Rejected.message(delivery, reason))
                    continue
            sent_at = record.ts if record.ts is not None else header_sent_at(delivery.headers)
            if uses_named_path(record, predictor):
                named.append(Named(delivery, record, sent_at))
            else:
                singles.append(_Single(delivery, record, sent_at))
            continue
        try:
            records = decode_records(delivery.body, delivery.content_type, True)
        except DecodeError as error:
            rejected.append(Rejected.message(delivery, str(error)))
            continue
        reason = width_problem(records.ids, records.values.shape[1], n_features)
        if reason is not None:
            rejected.append(Rejected.message(delivery, reason))
            continue
        usable = np.asarray(np.isfinite(records.values).all(axis=1), dtype=bool)
        for index in np.flatnonzero(~usable):
            reason = f"record {records.ids[index]!r}: non-finite number (NaN or Infinity)"
            rejected.append(Rejected.row(delivery, records, int(index), reason))
        messages.append(_Message(delivery, records, usable))
    return messages, singles, named, arrows, rejected


def _observe(
    drift: LiveDrift, predictor: Predictor, named: list[Named], arrows: list[ArrowFeatures]
) -> None:
    """Named records to the data quality as they came: the ones the model refuses (a feature
    absent, of the wrong type) are what it counts."""
    if named:
        drift.observe_rows([body_of(item.record, predictor) for item in named])
    for item in arrows:
        drift.observe_columns(arrow_inputs(item, predictor, item.rows), len(item.rows))


def _predict(
    predictor: Predictor,
    messages: list[_Message],
    headers: dict[str, str],
    drift: LiveDrift | None = None,
    workers: int = 1,
) -> tuple[list[OutMessage], list[Rejected]]:
    """One model call for every usable row of every message; results split back per message
    (and per metric shard, `workers` > 1, where a message has no batch name)."""
    rows = [m.records.values[m.usable] for m in messages]
    if not rows or sum(len(r) for r in rows) == 0:
        return [], []
    try:
        features = np.concatenate(rows)
        predictions = predictor.predict(features)
    except Exception:  # one bad row must not fail the others: find it message by message
        if len(messages) == 1:
            return _predict_rows(predictor, messages[0], headers, workers)
        return _one_by_one(lambda one: _predict(predictor, one, headers, workers=workers), messages)
    if drift is not None:
        drift.add(features, predictions)
    outgoing, failed, start = [], [], 0
    for message, count in zip(messages, (len(r) for r in rows), strict=True):
        more, bad = _publishable(message, predictions[start : start + count], headers, workers)
        outgoing += more
        failed += bad
        start += count
    return outgoing, failed


Answers = tuple[list[OutMessage], list[Rejected]]  # what to publish, what to dead-letter


def _one_by_one(predict: Callable[[list[T]], Answers], items: list[T]) -> Answers:
    """`predict` on each item alone, after the model failed on them together: the ones it
    fails on are found and refused, the others answered."""
    outgoing: list[OutMessage] = []
    failed: list[Rejected] = []
    for item in items:
        more, bad = predict([item])
        outgoing += more
        failed += bad
    return outgoing, failed


def _predict_singles(
    predictor: Predictor,
    singles: list[_Single],
    headers: dict[str, str],
    drift: LiveDrift | None = None,
) -> tuple[list[OutMessage], list[Rejected]]:
    """One model call for every single-record message; each answered in the seeds' form, a
    record the model fails on or predicts NaN for dead-lettered as it came."""
    if not singles:
        return [], []
    features = np.array([single.record.vector for single in singles], dtype=np.float64)
    try:
        predictions = np.asarray(predictor.predict(features), dtype=np.float64).ravel()
        if predictions.size != len(singles):
            msg = f"{predictions.size} predictions for {len(singles)} vectors"
            raise ValueError(msg)
    except Exception as error:
        if len(singles) > 1:  # find the one it fails on
            return _one_by_one(
                lambda one: _predict_singles(predictor, one, headers, drift), singles
            )
        reason = f"record {singles[0].record.id!r}: the model failed: {error!r}"
        return [], [Rejected.message(singles[0].delivery, reason)]
    if drift is not None:
        drift.add(features, predictions)
    outgoing, failed = [], []
    for single, value in zip(singles, predictions.tolist(), strict=True):
        record = single.record
        if not math.isfinite(value):
            reason = f"record {record.id!r}: the model predicted {value}"
            failed.append(Rejected.message(single.delivery, reason))
            continue
        extra = {} if single.sent_at is None else sent_at_header(single.sent_at)
        body = encode_value(record.id, value)
        outgoing.append(OutMessage(body, {**headers, **extra}, key=record_key(record.id)))
    return outgoing, failed


def _predict_rows(
    predictor: Predictor, message: _Message, headers: dict[str, str], workers: int = 1
) -> tuple[list[OutMessage], list[Rejected]]:
    """The model failed on this message: predict row by row, rejecting the rows it fails on."""
    values = np.full(len(message.records), np.nan)
    failed = []
    for index in np.flatnonzero(message.usable):
        try:
            values[index] = predictor.predict(message.records.values[index : index + 1])[0]
        except Exception as error:
            reason = f"record {message.records.ids[index]!r}: the model failed: {error!r}"
            failed.append(Rejected.row(message.delivery, message.records, int(index), reason))
            message.usable[index] = False
    outgoing, bad = _publishable(message, values[message.usable], headers, workers)
    return outgoing, failed + bad


def _publishable(
    message: _Message, predictions: Floats, headers: dict[str, str], workers: int = 1
) -> tuple[list[OutMessage], list[Rejected]]:
    """Predictions for a batch's usable rows, as a batch; a batch without a name split by
    metric shard (`workers`), as its records' true values are routed one by one."""
    records, delivery = message.records, message.delivery
    indices = np.flatnonzero(message.usable)
    finite = np.isfinite(predictions)
    failed = [
        Rejected.row(
            delivery, records, int(i), f"record {records.ids[i]!r}: the model predicted {p}"
        )
        for i, p in zip(indices[~finite], predictions[~finite], strict=True)
    ]
    indices, predictions = indices[finite], predictions[finite]
    if len(indices) == 0:
        return [], failed
    batch_id = header_str(delivery.headers, HEADER_BATCH)
    if batch_id:  # the predictions' batch answers the features' batch
        headers = {**headers, HEADER_BATCH: batch_id}
    every = len(indices) == len(records)  # as usual: no per-record list to build
    if batch_id or workers == 1:
        body = encode_batch(
            records.ids if every else [records.ids[i] for i in indices.tolist()],
            predictions,
            records.sent_at if every else records.sent_at[indices],
        )
        # A sharded metric: to the shard of the batch's name, where its true values went.
        key = batch_id or record_key(records.ids[0])
        return [OutMessage(body, headers, BATCH, key=key)], failed
    ids = [records.ids[i] for i in indices.tolist()]
    outgoing = []
    for group in shard_groups(ids, workers):
        body = encode_batch(
            [ids[g] for g in group], predictions[group], records.sent_at[indices[group]]
        )
        outgoing.append(OutMessage(body, headers, BATCH, key=record_key(ids[group[0]])))
    return outgoing, failed
