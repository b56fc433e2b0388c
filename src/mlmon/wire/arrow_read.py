"""The column readers of the Arrow batch form (`wire.arrow`): one pyarrow column in, numpy out.

Each reader checks its column's type (a wrong one raises DecodeError naming the column) and
works column-wise; a row that fails a check goes into `bad` with the reason the single JSON
form gives for the same fault. Those reasons come from `wire.checks` itself, called only on
the rows a vectorised test flagged, so the two forms cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlmon.arrays import Floats
from mlmon.errors import DecodeError
from mlmon.wire.checks import (
    MAX_FEATURE_NAME_CHARS,
    MAX_FUTURE_SECONDS,
    MAX_TAG_CHARS,
    MAX_TAGS,
    SCORE_SUM_TOLERANCE,
    check_named,
    check_scores,
    check_tags,
    check_ts,
)
from mlmon.wire.labels import label_code
from mlmon.wire.tag_rows import TagRows

Bad = dict[int, str]  # row -> why it is refused; the first reason found wins
Bools = npt.NDArray[np.bool_]
Texts = npt.NDArray[np.object_]  # str or None (missing), as model/frame.py's categorical columns

_TS_UNITS = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
_is_string_view = getattr(pa.types, "is_string_view", lambda _: False)  # pyarrow >= 16


def fail(column: str, message: str, raw: bytes) -> NoReturn:
    raise DecodeError(f"column {column!r}: {message}", raw)


def is_text(kind: Any) -> bool:
    """utf8, large_utf8, utf8_view, or a dictionary of one of them."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or _is_string_view(kind))


def is_number(kind: Any) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))


def nulls(array: Any) -> Bools:
    if not array.null_count:
        return np.zeros(len(array), dtype=np.bool_)
    return np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)


def floats(array: Any) -> Floats:
    """A numeric column as float64, null as NaN (call `nulls` to tell the two apart)."""
    if array.type != pa.float64():
        array = array.cast(pa.float64(), safe=False)  # int64 beyond 2**53 rounds, as JSON does
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def dictionary(array: Any) -> tuple[list[str | None], npt.NDArray[np.intp], Bools]:
    """A text column as its distinct words, each row's index into them, and its null rows."""
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array.cast(pa.string()))
    words: list[str | None] = array.dictionary.cast(pa.string()).to_pylist()
    missing = nulls(array.indices)
    index = np.asarray(array.indices.fill_null(0).to_numpy(), dtype=np.intp)
    if None in words:  # a null inside the dictionary is a null row too
        missing |= np.array([word is None for word in words], dtype=np.bool_)[index]
    return words, index, missing


def texts(array: Any) -> Texts:
    """A text column as an object array of str, None where null: one lookup per row."""
    words, index, missing = dictionary(array)
    table = np.array([*words, None], dtype=object)
    return np.asarray(table[np.where(missing, len(words), index)], dtype=object)


def text_or_default(array: Any | None, n: int, default: str | None, column: str, raw: bytes) -> (
    list[str] | None
):  # fmt: skip
    """`model` or `version`: a text column (nulls take the schema metadata's value, else ""),
    or the metadata's value for every row, or None when neither is there."""
    if array is None:
        return None if default is None else [default] * n
    if not is_text(array.type):
        fail(column, f"has type {array.type}; expected utf8", raw)
    values = texts(array)
    values[nulls(array)] = default or ""
    return list(values)


def read_ids(array: Any, bad: Bad, raw: bytes) -> list[int | float | str]:
    kind = array.type
    missing = nulls(array)
    if is_text(kind):
        text = array.cast(pa.string())  # not dictionary-encoded: ids hardly ever repeat
        empty = pc.equal(text, "").fill_null(False).to_numpy(zero_copy_only=False)
        for row in np.flatnonzero(empty):
            bad.setdefault(int(row), "empty id")
        ids: list[int | float | str] = text.fill_null("").to_pylist()
    elif pa.types.is_integer(kind):
        ids = array.fill_null(0).to_numpy().tolist()
    elif pa.types.is_floating(kind):
        values = floats(array)
        for row in np.flatnonzero(~np.isfinite(values) & ~missing):
            bad.setdefault(int(row), "non-finite id")
        ids = values.tolist()
    else:
        fail("id", f"has type {kind}; expected utf8, int64 or float64", raw)
    for row in np.flatnonzero(missing):
        bad.setdefault(int(row), "id is null")
        ids[row] = ""
    return ids


def read_values(array: Any, bad: Bad, raw: bytes) -> Floats:
    """A true value or prediction: numbers as they are, class labels as `label_code`s."""
    kind = array.type
    if is_number(kind):
        values = floats(array)
        missing = nulls(array)
        for row in np.flatnonzero(~np.isfinite(values) & ~missing):
            bad.setdefault(int(row), "non-finite value (NaN or Infinity)")
    elif is_text(kind):
        words, index, missing = dictionary(array)
        codes = np.full(len(words) + 1, np.nan)
        refused: dict[int, str] = {}
        for used in np.unique(index[~missing]).tolist():  # each distinct label once
            word = words[used]
            if not word:
                refused[used] = "empty class label"
                continue
            try:
                codes[used] = label_code(word)
            except DecodeError as error:
                refused[used] = error.reason
        values = codes[np.where(missing, len(words), index)]
        for row in np.flatnonzero(np.isin(index, list(refused)) & ~missing):
            bad.setdefault(int(row), refused[int(index[row])])
    else:
        fail("body", f"has type {kind}; expected float64, int64 or utf8 (a class label)", raw)
    for row in np.flatnonzero(missing):
        bad.setdefault(int(row), "body is null")
    return values


def read_ts(array: Any | None, n: int, now: float, bad: Bad, raw: bytes) -> Floats:
    if array is None:
        return np.full(n, np.nan)
    kind = array.type
    if pa.types.is_timestamp(kind):
        ts = floats(array.cast(pa.int64())) / _TS_UNITS[kind.unit]
    elif is_number(kind):
        ts = floats(array)
    else:
        fail("ts", f"has type {kind}; expected float64 epoch seconds or a timestamp", raw)
    with np.errstate(invalid="ignore"):
        flagged = ~nulls(array) & ~((ts > 0) & (ts - now <= MAX_FUTURE_SECONDS))
    for row in np.flatnonzero(flagged):
        try:
            check_ts(float(ts[row]), raw)
        except DecodeError as error:
            bad.setdefault(int(row), error.reason)
    return ts


def read_tags(array: Any | None, bad: Bad, raw: bytes) -> Sequence[dict[str, str] | None] | None:
    if array is None:
        return None
    kind = array.type
    if pa.types.is_map(kind) and is_text(kind.key_type) and is_text(kind.item_type):
        return _map_tags(array, bad, raw)
    if pa.types.is_struct(kind) and all(is_text(field.type) for field in kind):
        return _struct_tags(array, bad, raw)
    fail("tags", f"has type {kind}; expected map<utf8, utf8> or a struct of utf8", raw)


def _map_tags(array: Any, bad: Bad, raw: bytes) -> Sequence[dict[str, str] | None]:
    offsets = np.asarray(array.offsets.to_numpy(), dtype=np.intp)
    start, end = int(offsets[0]), int(offsets[-1])
    keys, items = array.keys.slice(start, end - start), array.items.slice(start, end - start)
    counts = np.diff(offsets)
    owner = np.repeat(np.arange(len(array)), counts)  # the row of each key
    key_chars = pc.utf8_length(keys.cast(pa.string())).to_numpy(zero_copy_only=False)
    item_chars = pc.utf8_length(items.cast(pa.string())).fill_null(0).to_numpy()
    odd = (key_chars == 0) | (key_chars > MAX_TAG_CHARS) | (item_chars > MAX_TAG_CHARS)
    null_items = nulls(items)
    flagged = np.zeros(len(array), dtype=np.bool_)
    flagged[owner[odd | null_items]] = True
    flagged |= counts > MAX_TAGS
    words, index, _ = dictionary(keys)
    values = list(texts(items))
    width = int(counts[0]) if len(counts) else 0
    same = width > 0 and (counts == width).all()
    if same and (index.reshape(-1, width) == index[:width]).all():
        # Every row names the same tags in the same order (the usual case): zip the value
        # columns under those names, no slice per row. Equal lengths by construction, and
        # zip's strict check would cost a third of this loop, the dearest of the decode.
        names = [words[i] for i in index[:width].tolist()]
        columns = [values[j::width] for j in range(width)]
        if not flagged.any() and not nulls(array).any():  # nothing to check row by row
            return TagRows(tuple(names), columns)
        tags: list[dict[str, str] | None] = [dict(zip(names, row)) for row in zip(*columns)]  # noqa: B905
    else:
        keys_text = list(texts(keys))
        tags = [
            dict(zip(keys_text[a : a + c], values[a : a + c], strict=True)) if c else None
            for a, c in zip((offsets[:-1] - start).tolist(), counts.tolist(), strict=True)
        ]
    _finish_tags(array, tags, flagged, bad, raw)
    return tags


def _struct_tags(array: Any, bad: Bad, raw: bytes) -> list[dict[str, str] | None]:
    """One child per tag name; a null child is that tag absent from the row."""
    names = [field.name for field in array.type]
    if len(set(names)) < len(names):
        fail("tags", "two children share a name", raw)
    n = len(array)
    children = [array.field(i) for i in range(len(names))]
    present = np.zeros((n, len(names)), dtype=np.bool_)
    flagged = np.zeros(n, dtype=np.bool_)
    for i, (name, child) in enumerate(zip(names, children, strict=True)):
        present[:, i] = ~nulls(child)
        chars = pc.utf8_length(child.cast(pa.string())).fill_null(0).to_numpy()
        odd = not name or len(name) > MAX_TAG_CHARS
        flagged |= present[:, i] & (odd | (chars > MAX_TAG_CHARS))
    flagged |= present.sum(axis=1) > MAX_TAGS
    columns = [texts(child) for child in children]
    tags: list[dict[str, str] | None] = [
        {name: value for name, value in zip(names, row, strict=True) if value is not None} or None
        for row in zip(*columns, strict=True)
    ] or [None] * n
    _finish_tags(array, tags, flagged, bad, raw)
    return tags


def _finish_tags(
    array: Any, tags: list[dict[str, str] | None], flagged: Bools, bad: Bad, raw: bytes
) -> None:
    """Null rows to None; each flagged row through check_tags, for its reason."""
    for row in np.flatnonzero(nulls(array)).tolist():
        tags[row] = None
    for row in np.flatnonzero(flagged).tolist():
        found = tags[row]
        if found is None:
            continue
        null = next((name for name, value in found.items() if value is None), None)
        if null is not None:  # a map's item can be null, a tag cannot
            bad.setdefault(row, f"tag {null!r} is null; tag values are strings")
            tags[row] = {name: value for name, value in found.items() if value is not None}
            continue
        try:
            check_tags(found, raw)
        except DecodeError as error:
            bad.setdefault(row, error.reason)


def read_scores(array: Any | None, bad: Bad, raw: bytes) -> tuple[Floats | None, tuple[str, ...]]:
    """Class probabilities: rows x classes, NaN where a row (or one class of it) is absent."""
    if array is None:
        return None, ()
    kind = array.type
    if not pa.types.is_struct(kind) or not all(is_number(field.type) for field in kind):
        fail("scores", f"has type {kind}; expected struct<class: float64, ...>", raw)
    classes = tuple(field.name for field in kind)
    if not classes or len(set(classes)) < len(classes):
        fail("scores", "needs one child per class, each with its own name", raw)
    matrix = np.column_stack([floats(array.field(i)) for i in range(len(classes))])
    row_null = nulls(array)
    present = ~np.column_stack([nulls(array.field(i)) for i in range(len(classes))])
    present &= ~row_null[:, None]
    with np.errstate(invalid="ignore"):
        odd = present & ~((matrix >= 0.0) & (matrix <= 1.0))
        total = np.where(present, matrix, 0.0).sum(axis=1)
        off = np.abs(total - 1.0) > SCORE_SUM_TOLERANCE * (1 - 1e-9)  # check_scores decides
    flagged = ~row_null & (odd.any(axis=1) | off | ~present.any(axis=1))
    for row in np.flatnonzero(flagged).tolist():
        found = {c: float(matrix[row, j]) for j, c in enumerate(classes) if present[row, j]}
        try:
            check_scores(found, raw)
        except DecodeError as error:
            bad.setdefault(row, error.reason)
    matrix[~present] = np.nan
    return matrix, classes


def read_named(array: Any, column: str, what: str, bad: Bad, raw: bytes) -> dict[str, Any]:
    """A struct of named features as model/frame.py's Columns: float64 with NaN for missing,
    object arrays of str or None for categories. A null row reads as every feature missing."""
    names = [field.name for field in array.type]
    if not names:
        raise DecodeError(f"{what} is an empty object", raw)
    if len(set(names)) < len(names):
        fail(column, "two features share a name", raw)
    if any(not name or len(name) > MAX_FEATURE_NAME_CHARS for name in names):
        raise DecodeError(f"{what}: a feature name that is empty or too long", raw)
    row_null = nulls(array)
    out: dict[str, Any] = {}
    for i, name in enumerate(names):
        child = array.field(i)
        if is_number(child.type):
            values = floats(child)
            for row in np.flatnonzero(~np.isfinite(values) & ~nulls(child) & ~row_null):
                try:
                    check_named({name: float(values[row])}, raw, what)
                except DecodeError as error:
                    bad.setdefault(int(row), error.reason)
            if row_null.any():
                values = np.where(row_null, np.nan, values)
            out[name] = values
        elif is_text(child.type):
            words = texts(child)
            words[row_null] = None
            out[name] = words
        else:
            fail(column, f"feature {name!r} has type {child.type}; expected a number or utf8", raw)
    return out


def read_vector(array: Any, column: str, what: str, bad: Bad, raw: bytes) -> Floats:
    """A list of float64 per row (the seeds' vector) as a rows x width matrix; rows whose
    length differs from the first row's are refused (and read as NaN)."""
    kind, n = array.type, len(array)
    if not is_number(kind.value_type):
        fail(column, f"has type {kind}; a vector holds numbers", raw)
    if pa.types.is_fixed_size_list(kind):
        if kind.list_size == 0:
            raise DecodeError(f"{what} is empty", raw)
        lengths = np.full(n, kind.list_size, dtype=np.intp)
        starts = (np.arange(n) + array.offset) * kind.list_size
    else:
        offsets = np.asarray(array.offsets.to_numpy(), dtype=np.intp)
        starts, lengths = offsets[:-1], np.diff(offsets)
    row_null = nulls(array)
    sized = lengths[~row_null & (lengths > 0)]
    width = int(sized[0]) if len(sized) else 0
    good = (lengths == width) & (lengths > 0) & ~row_null
    for row in np.flatnonzero(~good & ~row_null).tolist():
        reason = f"{what} has {lengths[row]} values where the first row has {width}"
        bad.setdefault(row, reason if lengths[row] else f"{what} is empty")
    flat = floats(array.values)
    matrix = np.full((n, width), np.nan)
    matrix[good] = flat[starts[good, None] + np.arange(width)]
    unusable = ~np.isfinite(matrix).all(axis=1) & good
    for row in np.flatnonzero(unusable).tolist():
        bad.setdefault(row, "non-finite number (NaN or Infinity) in features")
    return matrix
