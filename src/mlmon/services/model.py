"""model: predict each feature vector and publish the prediction to `y_pred`, keeping the id."""

from __future__ import annotations

import logging

import numpy as np

from mlmon.bus import Bus, Delivery, OutMessage
from mlmon.errors import DecodeError, RecordError
from mlmon.models import Predictor, check_vector
from mlmon.services.dead_letters import dead_letter
from mlmon.settings import Settings
from mlmon.status import ServiceStats
from mlmon.wire import (
    HEADER_MODEL,
    HEADER_MODEL_VERSION,
    HEADER_SENT_AT,
    FeatureRecord,
    decode_features,
    encode_value,
)

log = logging.getLogger("mlmon.model")


async def run_model(
    settings: Settings, bus: Bus, predictor: Predictor, stats: ServiceStats
) -> None:
    """Consume `features` until the bus stops; ack each batch once its predictions are confirmed."""
    log.info(
        "predicting with %s %s (%d features)",
        predictor.name,
        predictor.version,
        predictor.n_features,
    )
    stats.ready = True
    linger = settings.batch_linger_ms / 1000
    async for batch in bus.batches(settings.queue_features, settings.prefetch, linger):
        accepted, rejected = _validate(batch, predictor.n_features, settings.max_message_bytes)
        predictions, failed = _predict(predictor, accepted)
        rejected += failed
        if predictions:
            await bus.publish(settings.queue_y_pred, predictions)
        if rejected:
            await dead_letter(bus, rejected, stats)
        await bus.ack(batch)
        stats.counters["predicted"] += len(predictions)


def _validate(
    batch: list[Delivery], n_features: int, max_bytes: int
) -> tuple[list[tuple[Delivery, FeatureRecord]], list[tuple[Delivery, str]]]:
    accepted, rejected = [], []
    for delivery in batch:
        if len(delivery.body) > max_bytes:
            rejected.append(
                (
                    delivery,
                    f"message of {len(delivery.body)} bytes exceeds "
                    f"MLMON_MAX_MESSAGE_BYTES={max_bytes}",
                )
            )
            continue
        try:
            record = decode_features(delivery.body)
            check_vector(record.id, record.vector, n_features)
        except (DecodeError, RecordError) as error:
            rejected.append((delivery, str(error)))
        else:
            accepted.append((delivery, record))
    return accepted, rejected


def _predict(
    predictor: Predictor, accepted: list[tuple[Delivery, FeatureRecord]]
) -> tuple[list[OutMessage], list[tuple[Delivery, str]]]:
    if not accepted:
        return [], []
    try:
        values = predictor.predict(np.array([record.vector for _, record in accepted]))
    except Exception:  # a bad row must not take the whole batch down: find it row by row
        if len(accepted) == 1:
            raise
        return _predict_one_by_one(predictor, accepted)
    headers = {HEADER_MODEL: predictor.name, HEADER_MODEL_VERSION: predictor.version}
    out, failed = [], []
    for (delivery, record), value in zip(accepted, values.tolist(), strict=True):
        if not np.isfinite(value):
            failed.append((delivery, f"record {record.id!r}: the model predicted {value}"))
            continue
        sent_at = delivery.headers.get(HEADER_SENT_AT)
        extra = {HEADER_SENT_AT: sent_at} if sent_at is not None else {}
        out.append(OutMessage(encode_value(record.id, value), {**headers, **extra}))
    return out, failed


def _predict_one_by_one(
    predictor: Predictor, accepted: list[tuple[Delivery, FeatureRecord]]
) -> tuple[list[OutMessage], list[tuple[Delivery, str]]]:
    out, failed = [], []
    for item in accepted:
        try:
            messages, bad = _predict(predictor, [item])
        except Exception as error:
            failed.append((item[0], f"record {item[1].id!r}: the model failed: {error!r}"))
        else:
            out += messages
            failed += bad
    return out, failed
