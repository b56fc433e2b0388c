"""The wire contract: record types, their encode/decode, and the header names.

Two message forms, told apart by the AMQP content type:
- single (the seeds' JSON, always accepted): `{"id": <number or string>, "body": <list of
  floats or a float>}`. A true value or prediction may also be a one-element list, as one of
  the seeds sends it. Every further field is optional (docs/records.md and the JSON Schemas in
  docs/schemas/ are the contract): a features body may be an object of named values (number,
  string, or null for missing), `ts` is the event time in epoch seconds and `tags` an object
  of strings; a true value or prediction may be a class label (a string); a prediction may
  carry `scores` (class probabilities), `model`, `version` and the `features` it used.
- batched (`application/vnd.mlmon.batch+msgpack`, between mlmon's own services): one msgpack
  array `[ids, body, columns, sent_at]` carrying many records column-wise: `body` is the raw
  little-endian float64 matrix (rows x columns; columns = 0 for one value per record) and
  `sent_at` the raw float64 publish times (NaN when unknown). Encoding records this way copies
  their arrays' memory as it is, far cheaper than writing their floats as JSON lists.
Anything else raises DecodeError with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from mlmon.arrays import Floats
from mlmon.errors import DecodeError
from mlmon.wire.checks import check_named, check_scores, check_tags, check_ts
from mlmon.wire.labels import label_code

RecordId = int | float | str

JSON = "application/json"
BATCH = "application/vnd.mlmon.batch+msgpack"

Y_TRUE = "y_true"  # the true-value half of a record: its queue, CSV column and status key
Y_PRED = "y_pred"  # the prediction half

# Header names; the seeds ignore them, so they stay wire-compatible.
# When features published the record, in integer epoch microseconds: the AMQP client encodes a
# Python float header as a 32-bit float, which would round today's epoch to 128 s steps.
HEADER_SENT_AT = "x-mlmon-sent-at-us"
# Names a batch of records: the features batch, its true values' batch and every model's
# predictions for it carry the same one (batch_join joins them as a whole).
HEADER_BATCH = "x-mlmon-batch"
HEADER_MODEL = "x-mlmon-model"
HEADER_MODEL_VERSION = "x-mlmon-model-version"
HEADER_REASON = "x-mlmon-reason"  # why a message was dead-lettered
HEADER_SOURCE_QUEUE = "x-mlmon-source-queue"
# On predictions carrying their features for estimation only: their drift was computed where
# they were predicted (mlmon's model service), so the metric service must not count it again.
HEADER_FEATURES_FOR = "x-mlmon-features-for"


NamedValues = dict[str, float | str | None]  # a named features body: None is missing
Label = float | str  # a true value or prediction: a number, or a class label


class _Message(msgspec.Struct, forbid_unknown_fields=False):
    id: int | float | str
    body: list[float] | float | str | NamedValues
    ts: float | None = None
    tags: dict[str, str] | None = None
    scores: dict[str, float] | None = None
    model: str | None = None
    version: str | None = None
    features: list[float] | NamedValues | None = None


class FeatureRecord(msgspec.Struct, frozen=True):
    """A features message: the seeds' `vector`, or `named` values (then `vector` is empty)."""

    id: RecordId
    vector: list[float]
    named: NamedValues | None = None
    ts: float | None = None
    tags: dict[str, str] | None = None


class ValueRecord(msgspec.Struct, frozen=True):
    """A true value or prediction; `value` is a class label's code (`wire.labels`) for a
    label. The optional fields are checked (`wire.checks`) but not interpreted here."""

    id: RecordId
    value: float
    ts: float | None = None
    tags: dict[str, str] | None = None
    scores: dict[str, float] | None = None
    model: str | None = None
    version: str | None = None
    features: list[float] | NamedValues | None = None

    @property
    def plain(self) -> bool:
        """Only an id and a value, as the seeds send them."""
        return (
            self.ts is None
            and self.tags is None
            and self.scores is None
            and (self.model is None and self.version is None and self.features is None)
        )


_decoder = msgspec.json.Decoder(_Message)
_encoder = msgspec.json.Encoder()


def record_key(record_id: RecordId) -> str:
    """The join key of an id: strings as they are, numbers in their shortest JSON form."""
    if isinstance(record_id, str):
        return record_id
    if isinstance(record_id, float) and record_id.is_integer():
        return str(int(record_id))  # 5.0 and 5 name the same record
    return repr(record_id)


def _decode(raw: bytes) -> _Message:
    try:
        message = _decoder.decode(raw)
    except msgspec.ValidationError as error:
        raise DecodeError(f"invalid message: {error}", raw) from None
    except msgspec.DecodeError as error:
        if any(token in raw for token in (b"NaN", b"Infinity")):
            raise DecodeError("non-finite number (NaN or Infinity) in message", raw) from None
        raise DecodeError(f"malformed JSON: {error}", raw) from None
    if isinstance(message.id, str) and not message.id:
        raise DecodeError("empty id", raw)
    if isinstance(message.id, float) and not math.isfinite(message.id):
        raise DecodeError("non-finite id", raw)
    return message


def decode_features(raw: bytes) -> FeatureRecord:
    message = _decode(raw)
    body = message.body
    if isinstance(body, dict):
        named = check_named(body, raw, "features body")
        return FeatureRecord(
            message.id, [], named, check_ts(message.ts, raw), check_tags(message.tags, raw)
        )
    if not isinstance(body, list):
        raise DecodeError(
            "features body must be a list of numbers or an object of named values", raw
        )
    if not body:
        raise DecodeError("features body is empty", raw)
    if not all(math.isfinite(x) for x in body):
        raise DecodeError("non-finite number (NaN or Infinity) in features", raw)
    if message.ts is None and message.tags is None:
        return FeatureRecord(message.id, body)
    return FeatureRecord(
        message.id, body, None, check_ts(message.ts, raw), check_tags(message.tags, raw)
    )


def decode_value(raw: bytes) -> ValueRecord:
    message = _decode(raw)
    body = message.body
    if isinstance(body, list):
        if len(body) != 1:
            raise DecodeError(f"value body must be a number, got a list of {len(body)}", raw)
        body = body[0]
    if isinstance(body, dict):
        raise DecodeError("value body must be a number or a class label, got an object", raw)
    if isinstance(body, str):
        if not body:
            raise DecodeError("empty class label", raw)
        value = label_code(body)
    elif not math.isfinite(body):
        raise DecodeError("non-finite value (NaN or Infinity)", raw)
    else:
        value = body
    if (
        message.ts is None and message.tags is None and message.scores is None
        and message.model is None and message.version is None and message.features is None
    ):  # fmt: skip
        return ValueRecord(message.id, value)
    features = message.features
    if isinstance(features, dict):
        features = check_named(features, raw, "features")
    return ValueRecord(
        message.id,
        value,
        check_ts(message.ts, raw),
        check_tags(message.tags, raw),
        check_scores(message.scores, raw),
        message.model or None,
        message.version,
        features,
    )


def encode_features(record_id: RecordId, vector: Sequence[float]) -> bytes:
    return _encoder.encode({"id": record_id, "body": list(vector)})


def encode_value(record_id: RecordId, value: float) -> bytes:
    return _encoder.encode({"id": record_id, "body": value})


def sent_at_header(sent_at: float) -> dict[str, int]:
    return {HEADER_SENT_AT: round(sent_at * 1_000_000)}


def header_sent_at(headers: dict[str, Any]) -> float | None:
    """The publish time carried by a single-record message, in epoch seconds, if any."""
    value = headers.get(HEADER_SENT_AT)
    if isinstance(value, int) and not isinstance(value, bool):
        return value / 1_000_000
    return None


def header_str(headers: dict[str, Any], name: str) -> str:
    value = headers.get(name)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else ""


_F64 = np.dtype("<f8")


class _Batch(msgspec.Struct, array_like=True):
    ids: list[int | float | str]
    body: bytes
    columns: int
    sent_at: bytes


@dataclass(frozen=True)
class Records:
    """A decoded message: one or many records, column-wise. `values` is (n,) or (n, columns)."""

    ids: list[RecordId]
    values: Floats
    sent_at: Floats  # NaN where unknown

    def __len__(self) -> int:
        return len(self.ids)


_batch_encoder = msgspec.msgpack.Encoder()
_batch_decoder = msgspec.msgpack.Decoder(_Batch)


# What a message costs beyond its values, for producers that must keep within
# MLMON_MAX_MESSAGE_BYTES: ids of up to MAX_ID_CHARS (mlmon's own have 14-33), each with its
# msgpack or JSON framing; a batch's array, bins and column count take at most 21 bytes.
MAX_ID_CHARS = 40
_BATCH_BYTES_PER_MESSAGE = 32
_BATCH_BYTES_PER_RECORD = 8 + 2 + MAX_ID_CHARS  # the send time, the id and its header
_JSON_BYTES_PER_VALUE = len("-2.2250738585072014e-308,")  # the longest float msgspec writes
_JSON_BYTES_PER_MESSAGE = len('{"id":"","body":[]}') + MAX_ID_CHARS


def batch_records_within(max_bytes: int, columns: int, batch_size: int) -> int:
    """The most records, up to batch_size, that one batch of `columns` values a record (0 for
    one value) carries within max_bytes; 0 when not even one fits."""
    per_record = _BATCH_BYTES_PER_RECORD + 8 * max(columns, 1)
    return max(0, min(batch_size, (max_bytes - _BATCH_BYTES_PER_MESSAGE) // per_record))


def single_bytes_at_most(columns: int) -> int:
    """The size a single-record message of `columns` values (0 for one value) never exceeds."""
    return _JSON_BYTES_PER_MESSAGE + _JSON_BYTES_PER_VALUE * max(columns, 1)


def encode_batch(ids: Sequence[RecordId], values: Floats, sent_at: Floats) -> bytes:
    values = np.ascontiguousarray(values, dtype=_F64)
    columns = values.shape[1] if values.ndim == 2 else 0
    return _batch_encoder.encode(
        _Batch(
            list(ids),
            values.tobytes(),
            columns,
            np.ascontiguousarray(sent_at, dtype=_F64).tobytes(),
        )
    )


def decode_batch(raw: bytes) -> Records:
    """Decode a batch; rows with NaN/Infinity are kept, for the caller to reject one by one."""
    try:
        batch = _batch_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise DecodeError(f"malformed batch: {error}", raw) from None
    n, width = len(batch.ids), max(batch.columns, 1)
    if batch.columns < 0 or len(batch.body) != n * width * 8 or len(batch.sent_at) != n * 8:
        raise DecodeError(
            f"batch of {n} ids has {len(batch.body)} body bytes for {batch.columns} columns", raw
        )
    values = np.frombuffer(batch.body, dtype=_F64)
    if batch.columns:
        values = values.reshape(n, batch.columns)
    return Records(batch.ids, values, np.frombuffer(batch.sent_at, dtype=_F64))


def decode_records(
    raw: bytes, content_type: str | None, features: bool, sent_at: float | None = None
) -> Records:
    """Either message form as Records; a single JSON record gets `sent_at` from its header."""
    if content_type == BATCH:
        records = decode_batch(raw)
        if features != (records.values.ndim == 2):
            kind = "feature vectors" if features else "one value per record"
            raise DecodeError(f"batch does not carry {kind}", raw)
        return records
    stamp = np.array([np.nan if sent_at is None else sent_at], dtype=_F64)
    if features:
        record = decode_features(raw)
        return Records([record.id], np.array([record.vector], dtype=_F64), stamp)
    value = decode_value(raw)
    return Records([value.id], np.array([value.value], dtype=_F64), stamp)
