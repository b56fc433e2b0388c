"""The lines of metric_log.csv and the rows of orphans.csv: pure formatting, no I/O.

The joined records and orphans come from `join`, which this package may not import (the two
are independent layers): `Rows`, `Part` and `OrphanFields` say what is read of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Protocol

import msgspec
import numpy as np

from mlmon.arrays import Floats
from mlmon.metric_log.append import (
    Cell,
    float_columns,
    float_rows,
    format_cell,
    format_row,
    needs_quotes,
)
from mlmon.wire import Y_PRED, Y_TRUE
from mlmon.wire.labels import cell, code_mask
from mlmon.wire.tag_rows import TagRows

_json = msgspec.json.Encoder()


class Part(Protocol):
    """Rows joined together (`join.joined.JoinedPart`): a batch, or pairs joined one by one."""

    @property
    def keys(self) -> list[str]: ...
    @property
    def sent_at(self) -> Floats: ...
    @property
    def joined_at(self) -> Floats: ...
    @property
    def models(self) -> list[str]: ...
    @property
    def versions(self) -> list[str]: ...
    @property
    def model(self) -> str | None: ...
    @property
    def version(self) -> str | None: ...
    @property
    def one_send_time(self) -> bool: ...
    @property
    def sent_once(self) -> float | None: ...
    @property
    def extras(self) -> list[str] | None: ...
    def __len__(self) -> int: ...


class Rows(Protocol):
    """Joined records in the order they joined (`join.joined.Joined`)."""

    def __len__(self) -> int: ...
    def parts(self) -> Sequence[Part]: ...
    def column(self, name: str) -> Floats: ...
    def errors(self, classification: bool) -> Floats: ...
    @property
    def keys(self) -> list[str]: ...
    @property
    def models(self) -> list[str]: ...
    @property
    def versions(self) -> list[str]: ...
    @property
    def sent_at(self) -> list[float | None]: ...
    @property
    def joined_at(self) -> list[float]: ...
    @property
    def extras(self) -> list[str] | None: ...


class OrphanFields(Protocol):
    """A half that never met its partner (`join.store.Orphan`)."""

    @property
    def key(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def value(self) -> float: ...
    @property
    def model(self) -> str: ...
    @property
    def arrived_at(self) -> float: ...


def metric_lines(joined: Rows, classification: bool = False) -> str:
    """CSV lines for joined records: the three number columns formatted in one C-level pass
    (`float_rows`), and a whole batch's shared cells (model, version, send and join time)
    once, as the separator of its lines. The generic formatter takes over when an id or a
    model name needs quoting, a value is a class label or a row has scores or tags. For
    classification (the setting, a class label, or scores) the error column holds 0/1 (wrong
    label) instead of |y_true - y_pred|."""
    if not joined:
        return ""
    parts = joined.parts()
    y_true, y_pred = joined.column(Y_TRUE), joined.column(Y_PRED)
    errors = joined.errors(classification)
    names: set[str] = set()
    for part in parts:
        if part.model is not None and part.version is not None:
            names.update((part.model, part.version))
        else:
            names.update((*part.models, *part.versions))
    keys_text = "".join("".join(part.keys) for part in parts)
    if any(needs_quotes(text) for text in names) or needs_quotes(keys_text):
        return _generic_lines(joined, y_true, y_pred, errors, joined.extras)
    if any(part.extras is not None for part in parts) or bool(
        code_mask(y_true).any() or code_mask(y_pred).any()
    ):
        return _labelled_lines(parts, y_true, y_pred, errors)
    numbers = float_rows((y_true, y_pred, errors))  # "y_true,y_pred,absolute_error" per row
    pieces, done = [], 0
    for part in parts:
        number_cells = numbers[done : done + len(part)]
        done += len(part)
        if part.one_send_time:  # a batch: model, version, send and join time on every line
            sent = "" if part.sent_once is None else repr(part.sent_once)
            tail = f",{part.model},{part.version},{sent},{float(part.joined_at[0])!r},,\n"
            pieces.append(tail.join(map(",".join, zip(part.keys, number_cells, strict=True))))
            pieces.append(tail)
            continue
        times = (_time_cells(part.sent_at), _time_cells(part.joined_at))
        lines = zip(part.keys, number_cells, part.models, part.versions, *times, strict=True)
        pieces.append(",,\n".join(map(",".join, lines)) + ",,\n")
    return "".join(pieces)


def _labelled_lines(parts: Sequence[Part], y_true: Floats, y_pred: Floats, errors: Floats) -> str:
    """Lines with class labels, or scores and tags cells, column by column: each distinct
    label's text made once, the numbers in one pass (`float_rows`), a batch's shared cells
    once. For ids and model names that need no quoting (else `_generic_lines`); cell per cell
    through the generic formatter, a classifier's batches cost the metric a quarter of its
    time."""
    true_cells, pred_cells = _value_cells(y_true), _value_cells(y_pred)
    error_cells = float_rows((errors,))
    pieces, done = [], 0
    for part in parts:
        rows = slice(done, done + len(part))
        done += len(part)
        if part.one_send_time:  # a batch: model, version, send and join time once
            sent = "" if part.sent_once is None else repr(part.sent_once)
            shared = f",{part.model},{part.version},{sent},{float(part.joined_at[0])!r},"
            tail: str | list[str] = ","
            if part.extras is not None:
                tail = [x or "," for x in part.extras] if "" in part.extras else part.extras
            cells = [true_cells[rows], ",", pred_cells[rows], ",", error_cells[rows], shared]
            pieces.append(concat_text([part.keys, ",", *cells, tail], len(part)))
            continue
        extras = part.extras if part.extras is not None else repeat("")
        columns = (
            part.keys, true_cells[rows], pred_cells[rows], error_cells[rows], part.models,
            part.versions, _time_cells(part.sent_at), _time_cells(part.joined_at),
        )  # fmt: skip
        pieces += [
            f"{','.join(row)},{x or ','}\n"
            for row, x in zip(zip(*columns, strict=True), extras, strict=False)
        ]
    return "".join(pieces)


def _value_cells(values: Floats) -> list[str]:
    """Each value's cell: a class label's text (each distinct one formatted once), or the
    number's repr."""
    codes = code_mask(values)
    texts = {code: format_cell(cell(code)) for code in set(values[codes].tolist())}
    if codes.all():
        return [texts[value] for value in values.tolist()]
    cells = float_rows((values,))
    for row in np.flatnonzero(codes).tolist():
        cells[row] = texts[float(values[row])]
    return cells


def _generic_lines(
    joined: Rows, y_true: Floats, y_pred: Floats, errors: Floats, extras: list[str] | None
) -> str:
    """Every cell through the generic formatter, class labels as their text; each row's
    scores and tags cells (already CSV) appended as they are."""
    columns = (
        joined.keys,
        map(cell, y_true.tolist()),
        map(cell, y_pred.tolist()),
        errors.tolist(),
        joined.models,
        joined.versions,
        joined.sent_at,
        joined.joined_at,
    )
    tails = repeat(",,\n") if extras is None else (f",{e or ','}\n" for e in extras)
    return "".join(
        format_row(row) + tail for row, tail in zip(zip(*columns, strict=True), tails, strict=False)
    )


def extra_cells(scores: dict[str, float] | None, tags: dict[str, str] | None) -> str:
    """A prediction's scores and tags as the log's two last cells (JSON objects, CSV-quoted),
    comma-separated; "" when it has neither."""
    if not scores and not tags:
        return ""
    return f"{_json_cell(scores)},{_json_cell(tags)}"


def extra_cells_columns(
    n: int,
    classes: Sequence[str],
    scores: Floats | None,
    tags: Sequence[dict[str, str] | None] | None,
) -> list[str]:
    """`extra_cells` of many rows at once, from a scores matrix (rows x `classes`, NaN where
    absent) and tags per row: each class key escaped once, each distinct tags object encoded
    once, a score written as JSON writes it: each row's cells byte for byte what `extra_cells`
    writes for it. Encoding a dict per row cost the metric most of its time on Arrow batches."""
    score_cells: list[str] | Pieces = [""] * n
    if scores is not None:
        keys = [_json.encode(c).decode().replace('"', '""') for c in classes]
        if len(classes) and np.isfinite(scores).all():  # every class of every row
            # The numbers as JSON writes them, as `extra_cells` does for one row (msgspec).
            score_cells = _object_pieces(keys, float_columns(scores, json=True))
        else:
            for i, row in enumerate(scores.tolist()):
                parts = [
                    f"{k}:{_json.encode(v).decode()}"
                    for k, v in zip(keys, row, strict=True)
                    if v == v
                ]
                if parts:
                    score_cells[i] = '"{' + ",".join(parts) + '}"'
    tag_cells: list[str] | Pieces = [""] * n
    if isinstance(tags, TagRows) and tags.names:
        tag_cells = _tag_row_pieces(tags)
    elif tags is not None:
        seen: dict[tuple[tuple[str, str], ...], str] = {}
        for i, row_tags in enumerate(tags):
            if row_tags:
                key = tuple(row_tags.items())
                text = seen.get(key)
                if text is None:
                    text = seen[key] = _json_cell(row_tags)
                tag_cells[i] = text
    if isinstance(score_cells, Pieces) or isinstance(tag_cells, Pieces):
        # A side every row has is built with the other in one pass (`concat_rows`).
        return concat_rows([*_as_pieces(score_cells), ",", *_as_pieces(tag_cells)], n)
    return [f"{s},{t}" if s or t else "" for s, t in zip(score_cells, tag_cells, strict=True)]


class Pieces(list[str | list[str]]):
    """A cell column not yet built: texts the same on every row and columns of one text per
    row, to be concatenated row by row (`concat_rows`)."""


def _as_pieces(cells: list[str] | Pieces) -> list[str | list[str]]:
    return list(cells) if isinstance(cells, Pieces) else [cells]


def concat_rows(pieces: Sequence[str | Sequence[str]], n: int) -> list[str]:
    """Per row, the concatenation of `pieces`: a text the same on every row, or a column of
    one text per row (JSON and number text: no line break in any)."""
    return concat_text(pieces, n).split("\n")[:-1]


def concat_text(pieces: Sequence[str | Sequence[str]], n: int) -> str:
    """The rows' concatenations of `pieces` (see `concat_rows`), each ended by a line break:
    laid out in one list and joined once, half the time of a format call per row."""
    merged: list[str | Sequence[str]] = []
    for piece in (*pieces, "\n"):
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    width = len(merged)
    laid: list[str] = [""] * (n * width)
    for j, piece in enumerate(merged):
        laid[j::width] = [piece] * n if isinstance(piece, str) else piece
    return "".join(laid)


def _object_pieces(keys: Sequence[str], columns: Sequence[list[str]]) -> Pieces:
    """The pieces of a CSV-quoted JSON object of `keys` (JSON text, quotes doubled) to each
    row's value in each column (JSON text, quotes doubled)."""
    pieces = Pieces()
    for i, (key, column) in enumerate(zip(keys, columns, strict=True)):
        pieces += [('"{' if i == 0 else ",") + key + ":", column]
    pieces.append('}"')
    return pieces


def _tag_row_pieces(tags: TagRows) -> Pieces:
    """The tag cells of rows that all name the same tags (`_json_cell`'s text), column by
    column: each distinct value encoded once."""
    keys = [_json.encode(name).decode().replace('"', '""') for name in tags.names]
    columns = []
    for column in tags.columns:
        texts = {value: _json.encode(value).decode().replace('"', '""') for value in set(column)}
        columns.append(list(map(texts.__getitem__, column)))
    return _object_pieces(keys, columns)


def _json_cell(value: dict[str, float] | dict[str, str] | None) -> str:
    if not value:
        return ""
    return '"' + _json.encode(value).decode().replace('"', '""') + '"'


def orphan_rows(orphans: Iterable[OrphanFields], expired_at: float) -> list[tuple[Cell, ...]]:
    """The rows of orphans.csv (its ORPHAN_COLUMNS) for orphans expired at `expired_at`."""
    return [(o.key, o.kind, cell(o.value), o.model, o.arrived_at, expired_at) for o in orphans]


def _time_cells(values: Floats) -> list[str]:
    """Cells of a time column, NaN as an empty cell (an unknown time; a NaN that came as a
    time is taken as unknown too). Rows joined together share their times, so each distinct
    value is formatted once: `set` keeps the very NaN objects of the column, and a dict looks
    a key up by identity before equality, so NaN keys are found."""
    column: list[float] = values.tolist()
    text = {value: "" if math.isnan(value) else repr(value) for value in set(column)}
    if 0.0 in text:  # 0.0 and -0.0 are one key but two texts (times are never zero anyway)
        return ["" if math.isnan(value) else repr(value) for value in column]
    return list(map(text.__getitem__, column))
