"""The model service's path for features batched as Arrow IPC (named columns: numbers,
categories, missing values; or the seeds' vectors): one model call per message, answered by
one Arrow message of predictions (class labels and scores for a classifier) with the rows'
event times and tags. A row refused on decoding, or one the model fails on, is dead-lettered
alone as its single JSON message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmon.bus import Delivery, OutMessage
from mlmon.bus.topology import shard_groups
from mlmon.errors import DecodeError
from mlmon.model.frame import Prediction, columns_from_matrix
from mlmon.model.predictors import Predictor
from mlmon.model.records import ColumnKinds, predict_either_way, score_keys
from mlmon.ops.drift import LiveDrift
from mlmon.services.dead_letters import Rejected, bad_arrow_rows, json_row
from mlmon.wire import HEADER_BATCH, header_str, record_key
from mlmon.wire.arrow import (
    ARROW,
    RecordColumns,
    decode_features_arrow,
    encode_values_arrow,
    row_json,
)
from mlmon.wire.segment_tags import feature_tag_rows
from mlmon.wire.tag_rows import take_tags


@dataclass
class ArrowFeatures:
    delivery: Delivery
    columns: RecordColumns
    rows: npt.NDArray[np.intp]  # the usable rows


def decode_arrow(delivery: Delivery, rejected: list[Rejected]) -> ArrowFeatures | None:
    """The message's usable rows; its bad rows (or the whole message) rejected."""
    try:
        columns = decode_features_arrow(delivery.body)
    except DecodeError as error:
        rejected.append(Rejected.message(delivery, str(error)))
        return None
    rejected += bad_arrow_rows(delivery, columns, "features")
    rows = np.array(columns.usable(), dtype=np.intp)
    return ArrowFeatures(delivery, columns, rows) if len(rows) else None


def arrow_inputs(item: ArrowFeatures, predictor: Predictor, rows: npt.NDArray[np.intp]) -> Any:
    """The features of `rows` as the model takes them: a batch's own columns when that is all
    of its rows (the usual batch: no copy)."""
    columns = item.columns
    every_row = len(rows) == len(columns)
    if columns.vector is not None:
        names = predictor.feature_names or tuple(map(str, range(columns.vector.shape[1])))
        return columns_from_matrix(columns.vector if every_row else columns.vector[rows], names)
    assert columns.features is not None
    return columns.features_of(rows)


def predict_arrow(
    predictor: Predictor,
    items: list[ArrowFeatures],
    headers: dict[str, str],
    drift: LiveDrift | None = None,
    kinds: ColumnKinds | None = None,
    segment: tuple[str, ...] = (),
    forward: bool = False,
    workers: int = 1,
) -> tuple[list[OutMessage], list[Rejected]]:
    """Each message's usable rows predicted in one call (row by row if the call fails); the
    values of the `segment` features go with each row's tags (`wire.segment_tags`), and with
    `forward` the rows' features (for the metric service's estimation)."""
    outgoing: list[OutMessage] = []
    rejected: list[Rejected] = []
    for item in items:
        found: Prediction | None
        try:
            found, inputs = predict_either_way(
                predictor, arrow_inputs(item, predictor, item.rows), kinds or ColumnKinds()
            )
            kept = item.rows
            if drift is not None:
                drift.add_columns(inputs, found)
        except Exception:  # one bad row must not fail the others: find it
            found, kept = _row_by_row(predictor, item, rejected, kinds or ColumnKinds())
        if found is not None and found.values.dtype != object:  # numbers: refuse NaN/inf
            finite = np.isfinite(np.asarray(found.values, dtype=np.float64))
            for row, value in zip(
                kept[~finite].tolist(), found.values[~finite].tolist(), strict=True
            ):
                reason = f"record {item.columns.ids[row]!r}: the model predicted {value}"
                rejected.append(
                    json_row(item.delivery, row_json(item.columns, row, "features"), reason)
                )
            if not finite.all():
                scores = None if found.scores is None else found.scores[finite]
                found, kept = Prediction(found.values[finite], scores), kept[finite]
        if found is not None and len(kept):
            # One answer per metric shard: a batch from a producer other than mlmon's features
            # service may mix shards, and its records' true values are routed one by one.
            ids = item.columns.ids
            groups = shard_groups(ids if len(kept) == len(ids) else [ids[i] for i in kept], workers)
            named = _named(headers, item.delivery) if len(groups) == 1 else headers
            for group in groups:
                part = Prediction(
                    found.values[group], None if found.scores is None else found.scores[group]
                )
                outgoing.append(
                    _answer(predictor, item, kept[group], part, named, segment, forward)
                )
    return outgoing, rejected


def _named(headers: dict[str, str], delivery: Delivery) -> dict[str, str]:
    """The answer of a named features batch carries its name: the metric joins it whole with
    the true values' batch of that name."""
    name = header_str(delivery.headers, HEADER_BATCH)
    return {**headers, HEADER_BATCH: name} if name else headers


def _row_by_row(
    predictor: Predictor, item: ArrowFeatures, rejected: list[Rejected], kinds: ColumnKinds
) -> tuple[Prediction | None, npt.NDArray[np.intp]]:
    values, scores, kept = [], [], []
    for row in item.rows.tolist():
        one = np.array([row], dtype=np.intp)
        try:
            prediction, _ = predict_either_way(predictor, arrow_inputs(item, predictor, one), kinds)
        except Exception as error:
            body = row_json(item.columns, row, "features")
            reason = f"record {item.columns.ids[row]!r}: the model failed: {error}"
            rejected.append(json_row(item.delivery, body, reason))
            continue
        values.append(prediction.values[0])
        if prediction.scores is not None:
            scores.append(prediction.scores[0])
        kept.append(row)
    if not kept:
        return None, np.empty(0, dtype=np.intp)
    matrix = np.array(scores) if len(scores) == len(kept) else None
    # Numbers stay a float array, so the caller's check of non-finite predictions applies.
    numbers = not any(isinstance(value, str) for value in values)
    found = np.array(values, dtype=np.float64 if numbers else object)
    return Prediction(found, matrix), np.array(kept, dtype=np.intp)


def _answer(
    predictor: Predictor,
    item: ArrowFeatures,
    rows: npt.NDArray[np.intp],
    prediction: Prediction,
    headers: dict[str, str],
    segment: tuple[str, ...],
    forward: bool = False,
) -> OutMessage:
    columns = item.columns
    values = prediction.values
    labels: list[Any] | None = None
    if values.dtype == object:  # class labels: numbers stay numbers, the rest is text
        labels = values.tolist()
        if not set(map(type, labels)) <= {str, float}:
            labels = [v if isinstance(v, str) else float(v) for v in labels]
    scores = None
    classes = predictor.classes
    if prediction.scores is not None and classes is not None:
        scores = (np.round(prediction.scores, 6), score_keys(classes))
    every_row = len(rows) == len(columns)  # the usual batch: its columns as they are
    tags: Any = columns.tags if every_row else take_tags(columns.tags, rows.tolist())
    if segment:
        tags = feature_tag_rows(tags, arrow_inputs(item, predictor, rows), segment, len(rows))
    elif every_row and "tags" in columns.arrow:
        tags = columns.arrow["tags"]  # passed on as it came: already checked
    ids = columns.ids if every_row else [columns.ids[i] for i in rows.tolist()]
    body = encode_values_arrow(
        columns.arrow.get("id", ids) if every_row else ids,
        values if labels is None else labels,
        ts=columns.ts if every_row else columns.ts[rows],
        tags=tags,
        scores=scores,
        features=arrow_inputs(item, predictor, rows) if forward else None,
    )
    # Features kept a batch to one shard of a sharded metric: so does its predictions' batch.
    return OutMessage(body, headers, ARROW, key=record_key(ids[0]))
