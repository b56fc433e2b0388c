"""The batched form of rich records: one Arrow IPC stream per message, decoded column-wise.

Content type `application/vnd.apache.arrow.stream` (ARROW): an Arrow IPC *stream* of one or
more record batches, one row per record, for producers in any language (docs/records.md has
the column table). Columns: `id` (utf8, integer or float64), `body` (features: a struct of
named values or a list of float64; a true value or prediction: a number or a utf8 class
label), and optionally `ts`, `tags`, `scores`, `model`, `version` and, on predictions,
`features`. Unknown columns are ignored, as the single JSON form ignores unknown fields.

`decode_features_arrow` / `decode_values_arrow` give `RecordColumns`: a wrong column type or
a malformed stream raises DecodeError naming the column; a row that fails a check the single
form makes lands in `bad` with the same reason, so the caller refuses that row alone and
dead-letters it as `row_json`, the equivalent single JSON message. The encoders live in
`wire.arrow_write`, the column readers in `wire.arrow_read`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from mlmon.arrays import Floats
from mlmon.errors import DecodeError
from mlmon.wire import Y_PRED, Y_TRUE, RecordId
from mlmon.wire.arrow_read import (
    Bad,
    fail,
    nulls,
    read_ids,
    read_named,
    read_scores,
    read_tags,
    read_ts,
    read_values,
    read_vector,
    text_or_default,
)
from mlmon.wire.arrow_write import (
    ArrowDataset,
    encode_features_arrow,
    encode_values_arrow,
    rewrite_rows,
)
from mlmon.wire.labels import label_text

__all__ = [
    "ARROW",
    "ArrowDataset",
    "RecordColumns",
    "decode_features_arrow",
    "decode_values_arrow",
    "encode_features_arrow",
    "encode_values_arrow",
    "is_arrow_stream",
    "rewrite_rows",
    "row_json",
]

ARROW = "application/vnd.apache.arrow.stream"
_CONTINUATION = b"\xff\xff\xff\xff"  # how every message of an Arrow IPC stream begins


def is_arrow_stream(raw: bytes) -> bool:
    """Whether a stored body is an Arrow IPC stream (else mlmon's msgpack batch, which begins
    with a msgpack map or array)."""
    return raw[:4] == _CONTINUATION


Kind = Literal["features", "y_true", "y_pred"]  # the queue a message came from
_KINDS = ("features", Y_TRUE, Y_PRED)


@dataclass(frozen=True)
class RecordColumns:
    """The records of one Arrow message, column-wise; `bad` rows are refused, the rest usable.

    - `ids`: one per row ("" where the id was null: that row is in `bad`).
    - `values`: true values or predictions as float64, class labels as `label_code`s;
      None for a features message.
    - `ts`: event times in epoch seconds, NaN where unknown (the caller's default applies).
    - `tags`: one dict (or None) per row, or None without a `tags` column.
    - `scores`: rows x `classes` probabilities, NaN where a row (or a class of it) is absent.
    - `models`, `versions`: one per row ("" where unknown), or None when the message names none.
    - `features` / `vector`: a features message's body (a prediction's `features`), either
      named (model/frame.py's Columns: float64 with NaN for missing, object arrays of str or
      None for categories) or the seeds' vector as a rows x width float64 matrix; at most one
      is set. A vector is kept a matrix, as `Records.values` carries it, not split into
      columns named "0", "1", ...: the join and the predictors take it as it is.
    """

    ids: list[RecordId]
    values: Floats | None
    ts: Floats
    tags: Sequence[dict[str, str] | None] | None = None
    scores: Floats | None = None
    classes: tuple[str, ...] = ()
    models: list[str] | None = None
    versions: list[str] | None = None
    features: dict[str, npt.NDArray[Any]] | None = None
    vector: Floats | None = None
    bad: dict[int, str] = field(default_factory=dict)
    # The message's own `id` and `tags` columns as read (pyarrow arrays): a batch answered
    # whole passes them on as they came instead of building them again from Python values.
    arrow: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def features_of(
        self, rows: Sequence[int] | npt.NDArray[np.intp]
    ) -> dict[str, npt.NDArray[Any]] | None:
        """The named features of `rows` (None without any): the batch's own columns when
        `rows` is all of them (the usual batch: no copy)."""
        if self.features is None:
            return None
        if len(rows) == len(self.ids):
            return dict(self.features)
        return {name: column[rows] for name, column in self.features.items()}

    def usable(self) -> list[int]:
        """The rows not refused, in order."""
        if not self.bad:
            return list(range(len(self.ids)))
        return [i for i in range(len(self.ids)) if i not in self.bad]


def _read(raw: bytes) -> tuple[Any, dict[str, str]]:
    """The stream's record batches as one pyarrow Table, and its schema metadata."""
    try:
        table = pa.ipc.open_stream(pa.py_buffer(raw)).read_all()
    except (pa.ArrowException, OSError, ValueError) as error:
        raise DecodeError(f"malformed Arrow IPC stream: {error}", raw) from None
    names = table.column_names
    if len(set(names)) < len(names):
        raise DecodeError(f"two Arrow columns share a name: {names}", raw)
    metadata = {
        key.decode("utf-8", "replace"): value.decode("utf-8", "replace")
        for key, value in (table.schema.metadata or {}).items()
    }
    return table, metadata


def _column(table: Any, name: str, raw: bytes, required: bool = False) -> Any | None:
    if name not in table.column_names:
        if required:
            raise DecodeError(f"no {name!r} column in the Arrow batch", raw)
        return None
    column = table.column(name).combine_chunks()  # one array: the readers work on whole columns
    if pa.types.is_null(column.type):  # every row null: a producer's optional field unused
        if required:
            fail(name, "is all null", raw)
        return None
    return column


def _features(
    column: Any, name: str, what: str, bad: Bad, raw: bytes
) -> tuple[dict[str, npt.NDArray[Any]] | None, Floats | None]:
    kind = column.type
    if pa.types.is_struct(kind):
        return read_named(column, name, what, bad, raw), None
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return None, read_vector(column, name, what, bad, raw)
    fail(name, f"has type {kind}; expected a struct of named values or a list of float64", raw)


def decode_features_arrow(raw: bytes) -> RecordColumns:
    """A features message of the Arrow form (DecodeError if it is not one)."""
    table, _ = _read(raw)
    bad: Bad = {}
    id_column = _column(table, "id", raw, required=True)
    ids = read_ids(id_column, bad, raw)
    body = _column(table, "body", raw, required=True)
    for row in np.flatnonzero(nulls(body)).tolist():
        bad.setdefault(row, "body is null")
    named, vector = _features(body, "body", "features body", bad, raw)
    ts = read_ts(_column(table, "ts", raw), len(ids), time.time(), bad, raw)
    tag_column = _column(table, "tags", raw)
    tags = read_tags(tag_column, bad, raw)
    arrow = {"id": id_column} if tag_column is None else {"id": id_column, "tags": tag_column}
    return RecordColumns(ids, None, ts, tags, features=named, vector=vector, bad=bad, arrow=arrow)


def decode_values_arrow(raw: bytes) -> RecordColumns:
    """A true values' or predictions' message of the Arrow form (DecodeError if not one)."""
    table, metadata = _read(raw)
    bad: Bad = {}
    ids = read_ids(_column(table, "id", raw, required=True), bad, raw)
    values = read_values(_column(table, "body", raw, required=True), bad, raw)
    n = len(ids)
    ts = read_ts(_column(table, "ts", raw), n, time.time(), bad, raw)
    tags = read_tags(_column(table, "tags", raw), bad, raw)
    scores, classes = read_scores(_column(table, "scores", raw), bad, raw)
    named = vector = None
    features = _column(table, "features", raw)
    if features is not None:
        named, vector = _features(features, "features", "features", bad, raw)
    model, version = metadata.get("model"), metadata.get("version")
    return RecordColumns(
        ids,
        values,
        ts,
        tags,
        scores,
        classes,
        text_or_default(_column(table, "model", raw), n, model, "model", raw),
        text_or_default(_column(table, "version", raw), n, version, "version", raw),
        named,
        vector,
        bad,
    )


_encoder = msgspec.json.Encoder()


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None  # a bad row's NaN shows as null


def _features_row(columns: RecordColumns, index: int) -> Any:
    if columns.vector is not None:
        return [_number(x) for x in columns.vector[index].tolist()]
    if columns.features is None:
        return None
    row: dict[str, float | str | None] = {}
    for name, column in columns.features.items():
        value = column[index]
        row[name] = value if value is None or isinstance(value, str) else _number(float(value))
    return row


def row_json(columns: RecordColumns, index: int, kind: Kind) -> bytes:
    """Row `index` as the equivalent single JSON message, class labels as their text: how a
    refused row is dead-lettered alone, in the form a person reads."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, not {kind!r}")
    if (kind == "features") != (columns.values is None):
        raise ValueError(f"these columns are not a {kind} message")
    message: dict[str, Any] = {"id": columns.ids[index]}
    if columns.values is None:
        message["body"] = _features_row(columns, index)
    else:
        value = float(columns.values[index])
        message["body"] = label_text(value) or _number(value)
    ts = float(columns.ts[index])
    if not math.isnan(ts):
        message["ts"] = ts if math.isfinite(ts) else None
    if columns.tags is not None and columns.tags[index] is not None:
        message["tags"] = columns.tags[index]
    if columns.scores is not None:
        row = columns.scores[index].tolist()
        scores = {c: s for c, s in zip(columns.classes, row, strict=True) if not math.isnan(s)}
        if scores:
            message["scores"] = scores
    if columns.models is not None and columns.models[index]:
        message["model"] = columns.models[index]
    if columns.versions is not None and columns.versions[index]:
        message["version"] = columns.versions[index]
    if columns.values is not None:
        features = _features_row(columns, index)
        values = features.values() if isinstance(features, dict) else features or ()
        if any(value is not None for value in values):  # all missing: a null row, none sent
            message["features"] = features
    return _encoder.encode(message)
