"""The encoders of the Arrow batch form (`wire.arrow`): numpy columns in, one IPC stream out.

They write what `wire.arrow` reads, in the types docs/records.md recommends: float64 numbers,
dictionary-encoded utf8 for categories and class labels (a few distinct values repeat), a
map<utf8, utf8> for tags, a struct of float64 for scores, and one `model`/`version` for the
whole batch as schema metadata. NaN in a numeric column is written as null (missing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from mlmon.arrays import Floats
from mlmon.wire import RecordId
from mlmon.wire.labels import label_text
from mlmon.wire.tag_rows import TagRows

FeatureColumns = Mapping[str, npt.NDArray[Any]] | Floats  # named columns, or a vector matrix
# Class scores: a rows x classes matrix (NaN where absent) with the class names, or one dict
# per row (None where absent).
Scores = tuple[Floats, Sequence[str]] | Sequence[Mapping[str, float] | None]
# Tags column-wise: per tag name, one text (or None: the row lacks it) per row.
TagColumns = Mapping[str, npt.NDArray[np.object_] | Sequence[str | None]]


def _ids(ids: Sequence[RecordId] | pa.Array) -> Any:
    """utf8, int64 or float64, as pyarrow infers it (in C, not a Python test per id); an
    Arrow array (a decoded message's own column) as it is."""
    if isinstance(ids, pa.Array):
        return ids
    if not len(ids):
        return pa.array([], type=pa.string())
    try:
        array = pa.array(ids)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = None
    if array is None or not (
        pa.types.is_string(array.type)
        or pa.types.is_int64(array.type)
        or pa.types.is_float64(array.type)
    ):
        raise TypeError("ids must be all strings or all numbers: an Arrow column has one type")
    return array


def _numbers(values: Any) -> Any:
    values = np.asarray(values, dtype=np.float64)
    return pa.array(values, type=pa.float64(), mask=np.isnan(values))


def _strings(values: Sequence[str | None] | npt.NDArray[Any]) -> Any:
    """Dictionary-encoded utf8: each distinct text is written once."""
    given = values if isinstance(values, np.ndarray) else list(values)
    return pa.array(given, type=pa.string(), from_pandas=True).dictionary_encode()


def _features(columns: FeatureColumns, n: int) -> Any:
    if isinstance(columns, np.ndarray):
        matrix = np.ascontiguousarray(columns, dtype=np.float64)
        if matrix.ndim != 2 or len(matrix) != n:
            raise ValueError(f"a feature matrix of shape {matrix.shape} for {n} ids")
        flat = pa.array(matrix.reshape(-1), type=pa.float64())
        return pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])
    children = [
        _strings(column) if column.dtype.kind in "OUS" else _numbers(column)
        for column in columns.values()
    ]
    return pa.StructArray.from_arrays(children, names=list(columns))


def _label_text(value: float) -> str | None:
    if np.isnan(value):
        return None
    return label_text(value) or repr(float(value))  # "2.5" reads back as the number 2.5


def _values(values: Sequence[float | str] | npt.NDArray[Any]) -> Any:
    """Numbers as float64; once a class label is among them, all as dictionary utf8 (a number
    as its text, which the label rule reads back as that number)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        numbers = np.asarray(values, dtype=np.float64)
        if not (numbers <= -(2.0**52)).any():  # no label codes among them
            return pa.array(numbers, type=pa.float64())
        return _strings([_label_text(x) for x in numbers.tolist()])
    if any(isinstance(value, str) for value in values):
        return _strings(
            [value if isinstance(value, str) else _label_text(float(value)) for value in values]
        )
    return pa.array(np.asarray(values, dtype=np.float64), type=pa.float64())


def _tag_columns(columns: TagColumns) -> Any:
    """`_tags` from one column of text per tag name (None: the row lacks that tag), built
    column-wise: a dict per row cost the features service a quarter of its time."""
    names = list(columns)
    grid = np.column_stack([np.asarray(columns[name], dtype=object) for name in names])
    present = grid != None  # noqa: E711 - elementwise, on an object array
    offsets = np.zeros(len(grid) + 1, dtype=np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    keys = np.broadcast_to(np.array(names, dtype=object), grid.shape)[present]
    return pa.MapArray.from_arrays(
        pa.array(offsets),
        pa.array(keys, type=pa.string()),
        pa.array(grid[present], type=pa.string()),
    )


def _tags(tags: Sequence[Mapping[str, str] | None] | TagColumns) -> Any:
    """A map<utf8, utf8> per row; a row without tags is an empty map (it reads as None)."""
    if isinstance(tags, pa.Array):  # a decoded message's own column, passed on
        return tags
    if isinstance(tags, Mapping):
        return _tag_columns(tags)
    if isinstance(tags, TagRows):  # decoded column-wise: written back so
        return _tag_columns(dict(zip(tags.names, tags.columns, strict=True)))
    counts = [len(row) if row else 0 for row in tags]
    offsets = np.zeros(len(tags) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    present = [row for row in tags if row]
    keys = list(chain.from_iterable(present))
    items = list(chain.from_iterable(row.values() for row in present))
    return pa.MapArray.from_arrays(
        pa.array(offsets), pa.array(keys, type=pa.string()), pa.array(items, type=pa.string())
    )


def _scores(scores: Scores, n: int) -> Any:
    if isinstance(scores, tuple):
        matrix, classes = np.asarray(scores[0], dtype=np.float64), list(scores[1])
    else:
        classes = list(dict.fromkeys(c for row in scores if row for c in row))
        matrix = np.full((len(scores), len(classes)), np.nan)
        where = {c: j for j, c in enumerate(classes)}
        for i, row in enumerate(scores):
            for c, p in (row or {}).items():
                matrix[i, where[c]] = p
    if matrix.shape != (n, len(classes)):
        raise ValueError(f"scores of shape {matrix.shape} for {n} ids and {len(classes)} classes")
    absent = np.isnan(matrix).all(axis=1)
    children = [_numbers(matrix[:, j]) for j in range(len(classes))]
    return pa.StructArray.from_arrays(children, names=classes, mask=pa.array(absent))


def _stream(arrays: dict[str, Any], metadata: dict[str, str] | None = None) -> bytes:
    batch = pa.RecordBatch.from_arrays(list(arrays.values()), names=list(arrays))
    if metadata:
        batch = batch.replace_schema_metadata(metadata)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue())


def _common(
    arrays: dict[str, Any],
    ts: Floats | Sequence[float | None] | None,
    tags: Sequence[Mapping[str, str] | None] | TagColumns | None,
) -> None:
    if ts is not None:
        arrays["ts"] = _numbers(np.array(ts, dtype=np.float64))
    if tags is not None:
        arrays["tags"] = _tags(tags)


def encode_features_arrow(
    ids: Sequence[RecordId],
    columns: FeatureColumns,
    ts: Floats | Sequence[float | None] | None = None,
    tags: Sequence[Mapping[str, str] | None] | TagColumns | None = None,
) -> bytes:
    """Features as one Arrow message: named columns (model/frame.py's Columns) as a struct
    `body`, or a rows x width matrix as a fixed_size_list<float64> `body`; `tags` one dict per
    row, or one column of text per tag name (None where a row lacks it)."""
    arrays = {"id": _ids(ids), "body": _features(columns, len(ids))}
    _common(arrays, ts, tags)
    return _stream(arrays)


def encode_values_arrow(
    ids: Sequence[RecordId] | pa.Array,
    values: Sequence[float | str] | npt.NDArray[Any],
    ts: Floats | Sequence[float | None] | None = None,
    tags: Sequence[Mapping[str, str] | None] | pa.Array | None = None,
    scores: Scores | None = None,
    model: str | Sequence[str] | None = None,
    version: str | Sequence[str] | None = None,
    features: FeatureColumns | None = None,
) -> bytes:
    """True values or predictions as one Arrow message; label codes go back to their text.
    A `model`/`version` string names the whole batch (schema metadata), a sequence each row.
    `ids` and `tags` may be a decoded message's own Arrow columns, written as they are."""
    arrays = {"id": _ids(ids), "body": _values(values)}
    _common(arrays, ts, tags)
    if scores is not None:
        arrays["scores"] = _scores(scores, len(ids))
    metadata: dict[str, str] = {}
    for name, given in (("model", model), ("version", version)):
        if isinstance(given, str):
            metadata[name] = given
        elif given is not None:
            arrays[name] = _strings(list(given))
    if features is not None:
        arrays["features"] = _features(features, len(ids))
    return _stream(arrays, metadata)


def rewrite_rows(raw: bytes, rows: Sequence[int] | None, ts: Floats | None = None) -> bytes:
    """The Arrow message `raw` (already decoded once: it is valid) cut to `rows` (all: None),
    with `ts` as its float64 `ts` column if given, written in the current IPC stream format:
    what a batch joined whole keeps of a message some of whose rows were refused."""
    table = pa.ipc.open_stream(pa.py_buffer(raw)).read_all()
    if rows is not None:
        table = table.take(pa.array(np.asarray(rows, dtype=np.int64)))
    if ts is not None:
        field, column = pa.field("ts", pa.float64()), _numbers(ts)
        where = table.schema.get_field_index("ts")
        table = (
            table.set_column(where, field, column)
            if where >= 0
            else table.append_column(field, column)
        )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


class ArrowDataset:
    """A dataset's feature columns, true values and tags as Arrow arrays built once, from which
    each batch takes its rows: the same messages as `encode_features_arrow` and
    `encode_values_arrow` write (a dataset streamed in many batches had its categories, labels
    and tags encoded again for every one: a third of the features service's time)."""

    def __init__(
        self,
        columns: Mapping[str, npt.NDArray[Any]],
        values: Sequence[float | str] | npt.NDArray[Any],
        tags: TagColumns | None = None,
    ) -> None:
        self._features = _features(columns, len(values))
        self._values = _values(values)
        self._tags = _tag_columns(tags) if tags else None

    def messages(
        self, ids: Sequence[RecordId], rows: npt.NDArray[Any], ts: Floats
    ) -> tuple[bytes, bytes]:
        """The features message and the true values' message of `rows` (with `ids` and
        `ts`), sharing their row index, id and ts columns."""
        index = pa.array(np.asarray(rows, dtype=np.int64))
        shared: dict[str, Any] = {"id": _ids(ids)}
        _common(shared, ts, None)
        features = {"id": shared["id"], "body": self._features.take(index), "ts": shared["ts"]}
        if self._tags is not None:
            features["tags"] = self._tags.take(index)
        values = {"id": shared["id"], "body": self._values.take(index), "ts": shared["ts"]}
        return _stream(features), _stream(values)
