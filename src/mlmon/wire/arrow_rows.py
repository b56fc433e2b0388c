"""An encoder of the Arrow batch form for records gathered one by one, as dicts (the client's
case): pyarrow turns a list of dicts into a struct column in one C++ pass, where pivoting
them into numpy columns in Python cost ~15 µs a record (benchmarks/bench_client.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from mlmon.wire import RecordId
from mlmon.wire.arrow_write import _ids, _stream

Row = Mapping[str, float | int | str | None]


def encode_rows_arrow(
    ids: Sequence[RecordId],
    values: Sequence[float | int | str],
    ts: Sequence[float | None] | None = None,
    tags: Sequence[Mapping[str, str] | None] | None = None,
    scores: Sequence[Mapping[str, float] | None] | None = None,
    features: Sequence[Row | None] | None = None,
    model: str | None = None,
    version: str | None = None,
) -> bytes:
    """True values or predictions as one Arrow message, their optional parts one dict per
    row (None where a row has none). Raises pyarrow's error when a column mixes types (a
    label that is a string in one row and a number in another): send those as JSON."""
    arrays = {"id": _ids(ids), "body": pa.array(values)}
    if ts is not None:
        arrays["ts"] = pa.array(ts, type=pa.float64())
    for name, rows in (("tags", tags), ("scores", scores), ("features", features)):
        if rows is not None:
            arrays[name] = pa.array(rows)  # a struct column, its children typed by pyarrow
    metadata = {key: text for key, text in (("model", model), ("version", version)) if text}
    return _stream(arrays, metadata)
