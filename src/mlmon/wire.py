"""The wire contract: record types, their encode/decode, and the header names.

A message is the seeds' JSON, `{"id": <number or string>, "body": <list of floats or a float>}`,
published to the default exchange. A true value or prediction may also come as a one-element
list, as one of the seeds sends it. Anything else raises DecodeError with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import msgspec

from mlmon.errors import DecodeError

RecordId = int | float | str

JSON = "application/json"

# Header names; the seeds ignore them, so they stay wire-compatible.
HEADER_SENT_AT = "x-mlmon-sent-at"  # epoch seconds when features published the record
HEADER_MODEL = "x-mlmon-model"
HEADER_MODEL_VERSION = "x-mlmon-model-version"
HEADER_REASON = "x-mlmon-reason"  # why a message was dead-lettered
HEADER_SOURCE_QUEUE = "x-mlmon-source-queue"


class _Message(msgspec.Struct, forbid_unknown_fields=False):
    id: int | float | str
    body: list[float] | float


class FeatureRecord(msgspec.Struct, frozen=True):
    id: RecordId
    vector: list[float]


class ValueRecord(msgspec.Struct, frozen=True):
    id: RecordId
    value: float


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
    if not isinstance(message.body, list):
        raise DecodeError("features body must be a list of numbers", raw)
    if not message.body:
        raise DecodeError("features body is empty", raw)
    if not all(math.isfinite(x) for x in message.body):
        raise DecodeError("non-finite number (NaN or Infinity) in features", raw)
    return FeatureRecord(message.id, message.body)


def decode_value(raw: bytes) -> ValueRecord:
    message = _decode(raw)
    body = message.body
    if isinstance(body, list):
        if len(body) != 1:
            raise DecodeError(f"value body must be a number, got a list of {len(body)}", raw)
        body = body[0]
    if not math.isfinite(body):
        raise DecodeError("non-finite value (NaN or Infinity)", raw)
    return ValueRecord(message.id, body)


def encode_features(record_id: RecordId, vector: Sequence[float]) -> bytes:
    return _encoder.encode({"id": record_id, "body": list(vector)})


def encode_value(record_id: RecordId, value: float) -> bytes:
    return _encoder.encode({"id": record_id, "body": value})


def header_float(headers: dict[str, Any], name: str) -> float | None:
    value = headers.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def header_str(headers: dict[str, Any], name: str) -> str:
    value = headers.get(name)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else ""
