"""The model service's path for records that are more than a float vector in and a float
out: named features (numbers, categories, missing values), and classifiers (a class label and
its scores out). Each record is answered by a single JSON message carrying its label, scores,
event time and tags; a record the model cannot take is dead-lettered with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import msgspec

from mlmon.bus import Delivery, OutMessage
from mlmon.model.predictors import Predictor
from mlmon.model.records import (
    ColumnKinds,
    NamedValues,
    answers,
    columns_of,
    predict_either_way,
)
from mlmon.ops.drift import LiveDrift
from mlmon.services.dead_letters import Rejected
from mlmon.wire import FeatureRecord, record_key, sent_at_header
from mlmon.wire.segment_tags import with_feature_tags

_encoder = msgspec.json.Encoder()


@dataclass
class Named:
    """A single-record features message taking the named path."""

    delivery: Delivery
    record: FeatureRecord
    sent_at: float | None


def uses_named_path(record: FeatureRecord, predictor: Predictor) -> bool:
    """Named bodies always; the seeds' vectors too when they carry tags (which the answer
    must carry on) or the model is a classifier (its labels and scores cannot travel as one
    float)."""
    return record.named is not None or bool(record.tags) or predictor.task == "classification"


def body_of(record: FeatureRecord, predictor: Predictor) -> NamedValues:
    """A record's features by name; a vector's by the model's names, or "0", "1", ..."""
    if record.named is not None:
        return record.named
    names = predictor.feature_names or tuple(map(str, range(len(record.vector))))
    return dict(zip(names, record.vector, strict=False))


def predict_named(
    predictor: Predictor,
    items: list[Named],
    headers: dict[str, str],
    kinds: ColumnKinds,
    drift: LiveDrift | None = None,
    segment: tuple[str, ...] = (),
    forward: bool = False,
) -> tuple[list[OutMessage], list[Rejected]]:
    """One model call for every usable record; each answered in a JSON message of its own,
    the values of the `segment` features added to its tags (`wire.segment_tags`), and with
    `forward` the record's features (for the metric service's estimation)."""
    if not items:
        return [], []
    names = predictor.feature_names or tuple(map(str, range(predictor.n_features)))
    bodies = [body_of(item.record, predictor) for item in items]
    columns, usable, bad = columns_of(bodies, names, kinds)
    rejected = [
        Rejected.message(items[i].delivery, f"record {items[i].record.id!r}: {reason}")
        for i, reason in sorted(bad.items())
    ]
    if not usable:
        return [], rejected
    try:
        prediction, columns = predict_either_way(predictor, columns, kinds)
    except Exception as error:
        if len(usable) == 1:
            item = items[usable[0]]
            reason = f"record {item.record.id!r}: the model failed: {error}"
            return [], [*rejected, Rejected.message(item.delivery, reason)]
        outgoing: list[OutMessage] = []
        for index in usable:  # find the records it fails on
            more, failed = predict_named(
                predictor, [items[index]], headers, kinds, drift, segment, forward
            )
            outgoing += more
            rejected += failed
        return outgoing, rejected
    kinds.learn(columns)
    if drift is not None:
        drift.add_columns(columns, prediction)
    outgoing = []
    for index, (body, scores) in zip(usable, answers(prediction, predictor.classes), strict=True):
        item = items[index]
        if isinstance(body, float) and not math.isfinite(body):
            reason = f"record {item.record.id!r}: the model predicted {body}"
            rejected.append(Rejected.message(item.delivery, reason))
            continue
        message: dict[str, Any] = {"id": item.record.id, "body": body}
        if scores is not None:
            message["scores"] = scores
        if item.record.ts is not None:
            message["ts"] = item.record.ts
        tags = with_feature_tags(item.record.tags, bodies[index], segment)
        if tags:
            message["tags"] = tags
        if forward:
            message["features"] = bodies[index]
        extra = {} if item.sent_at is None else sent_at_header(item.sent_at)
        encoded = _encoder.encode(message)
        outgoing.append(OutMessage(encoded, {**headers, **extra}, key=record_key(item.record.id)))
    return outgoing, rejected
