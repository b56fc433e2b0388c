"""The fields of a block of metric-log lines as numpy columns: numpy locates the commas and
converts whole columns at once; blank, short or unparsable lines, or quoting anywhere but in
the trailing JSON cells, send the block to the `csv` module, row by row.

y_true and y_pred may hold class labels as text (their codes, `cells.label_value`); `scores`
and `tags` hold JSON objects (`cells.parse_scores`, `cells.parse_tags`), parsed only when
asked for. A non-empty JSON object is CSV-quoted: the fast path takes a line's commas only
up to its first quote, and the text from the first JSON column to the line's end (its "tail",
which repeats from row to row: tags, or labels' scores) is split by `csv` once per distinct
tail. A line whose first quote comes before the JSON columns goes to the csv path.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.metric_log.cells import (
    ScoreMatrix,
    TagColumn,
    label_value,
    label_values,
    parse_scores,
    parse_tags,
)
from mlmon.wire import Y_PRED, Y_TRUE

MAX_FIELD_BYTES = 256  # longer fields are left to the csv module
MAX_TAIL_BYTES = 4096  # and longer JSON tails (16 tags of 100 characters fit)
GATHER_BYTES = 32 << 20  # a block's fields are copied out rows x widest: at most this
NEWLINE, RETURN, COMMA, QUOTE = ord("\n"), ord("\r"), ord(","), ord('"')

ModelCode = Callable[[bytes], int]  # a model name as written -> its code in the reader
LABEL_COLUMNS = frozenset((Y_TRUE, Y_PRED))  # numbers, or class labels written as text
SCORES, TAGS = "scores", "tags"  # JSON columns: a ScoreMatrix and dicts, not floats
JSON_COLUMNS = frozenset((SCORES, TAGS))


class Parsed(NamedTuple):
    """One block's rows: errors, model codes and extra columns aligned; rows left out."""

    errors: Floats
    codes: npt.NDArray[np.int32]
    extras: dict[str, Floats]  # the numeric ones (label columns as codes)
    skipped: int  # short or unparsable rows (blank lines are not counted)
    scores: ScoreMatrix | None = None  # when SCORES is among the extra columns
    tags: TagColumn | None = None  # when TAGS is


class NeedsSlowPath(Exception):
    """The block holds quoting, blank, short or unparsable rows: parse it with `csv`."""


def parse(
    lines: bytes,
    error_col: int,
    model_col: int | None,
    extra_cols: Mapping[str, int | None],
    code: ModelCode,
) -> Parsed:
    """Complete lines (ending in a newline) as columns; the fast path unless it gives up."""
    try:
        return parse_fast(lines, error_col, model_col, extra_cols, code)
    except NeedsSlowPath:
        return parse_slow(lines, error_col, model_col, extra_cols, code)


def parse_fast(
    lines: bytes,
    error_col: int,
    model_col: int | None,
    extra_cols: Mapping[str, int | None],
    code: ModelCode,
) -> Parsed:
    """Locate the fields with numpy and convert them in bulk; give up on unparsable ones."""
    table = Fields.of(lines)
    json_cols = [
        col for name, col in extra_cols.items() if name in JSON_COLUMNS and col is not None
    ]
    tail_col = min(json_cols, default=None)
    if table.quoted.any():
        plain = [error_col, *(col for name, col in extra_cols.items() if name not in JSON_COLUMNS)]
        needed = max([col for col in (*plain, model_col) if col is not None])
        quoted_at = table.count[table.quoted] - 1  # the field a quoted line's first quote is in
        if int(quoted_at.min()) < max(needed + 1, tail_col or 0):
            raise NeedsSlowPath
    usable = table.count > error_col
    short = int(np.count_nonzero(~usable & ~table.blank))
    if not usable.all():
        table = table.select(usable)
    try:
        values = table.field(error_col).astype(np.float64)
    except ValueError:
        raise NeedsSlowPath from None
    n = len(values)
    codes = _model_codes(table, model_col, n, code)
    extras = {}
    for name, col in extra_cols.items():
        if name in JSON_COLUMNS:
            continue
        if col is None:
            extras[name] = np.full(n, np.nan)
            continue
        raw = table.field(col)
        try:  # an empty cell (a row without it) reads as NaN
            extras[name] = np.where(raw == b"", b"nan", raw).astype(np.float64)
        except ValueError:
            if name not in LABEL_COLUMNS:
                raise NeedsSlowPath from None
            extras[name] = label_values(raw)
    scores, tags = None, None
    # Quoted cells are split by csv, once per distinct tail; unquoted ones (empty, mostly) are
    # read as fields.
    quoted = tail_col is not None and n > 0 and bool(table.quoted.any())
    tails = table.tails(tail_col) if quoted and tail_col is not None else None
    if SCORES in extra_cols:
        found = _json_cells(table, tails, extra_cols[SCORES], tail_col, n)
        if found is None:
            scores = ScoreMatrix.empty(n)
        else:
            cells, index = found
            scores = parse_scores(cells if index is None else [cells[i] for i in index.tolist()])
    if TAGS in extra_cols:
        found = _json_cells(table, tails, extra_cols[TAGS], tail_col, n)
        if found is None:
            tags = TagColumn.empty(n)
        else:
            cells, index = found
            tags = parse_tags(cells) if index is None else parse_tags(cells).select(index)
    return Parsed(values, codes, extras, short, scores, tags)


def _json_cells(
    table: Fields, tails: Tails | None, col: int | None, tail_col: int | None, n: int
) -> tuple[list[str] | list[bytes], npt.NDArray[np.intp] | None] | None:
    """A JSON column's cells, or None when every one is empty: one per line (index None), or
    the distinct cells and per line the index of its own."""
    if col is None or tail_col is None or n == 0:
        return None
    if tails is not None:
        return tails.cells(col - tail_col)
    raw = table.field(col)
    if not raw.any():  # numpy's bytes are falsy when empty
        return None
    return [bytes(cell) for cell in raw], None


@dataclass(frozen=True)
class Tails:
    """Per line, the index of its tail in `split`; each distinct tail split into its cells
    once (by `csv`, so quoting is read as the csv path reads it)."""

    index: npt.NDArray[np.intp]
    split: list[list[str]]

    @classmethod
    def of(cls, tails: npt.NDArray[np.bytes_]) -> Tails:
        distinct, index = np.unique(tails, return_inverse=True)
        split = []
        for tail in distinct.tolist():
            if tail.count(b'"') % 2:  # a quote left open: a cell spanning lines
                raise NeedsSlowPath
            text = tail.decode("utf-8", errors="replace")
            split.append(next(csv.reader([text]), []) if text else [])
        return cls(index.ravel(), split)

    def cells(self, offset: int) -> tuple[list[str], npt.NDArray[np.intp]] | None:
        """The distinct cells `offset` columns into the tails ("" where a line has none) and
        per line the index of its own; None when every one is empty."""
        column = [cells[offset] if offset < len(cells) else "" for cells in self.split]
        if not any(column):
            return None
        return column, self.index


def _model_codes(
    table: Fields, model_col: int | None, n: int, code: ModelCode
) -> npt.NDArray[np.int32]:
    if model_col is None or n == 0:
        return np.full(n, code(b""), np.int32)
    raw = table.field(model_col)
    if (raw == raw[0]).all():  # the usual case: one model; no need to sort
        return np.full(n, code(bytes(raw[0])), np.int32)
    distinct, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    codes = np.zeros(len(distinct), np.int32)
    for position in np.argsort(first):  # number new models in order of appearance
        codes[position] = code(bytes(distinct[position]))
    return codes[inverse.ravel()]


def parse_slow(
    lines: bytes,
    error_col: int,
    model_col: int | None,
    extra_cols: Mapping[str, int | None],
    code: ModelCode,
) -> Parsed:
    """Parse row by row with `csv`, skipping (and counting) rows that cannot be used."""
    values: list[float] = []
    codes: list[int] = []
    numeric = {name: col for name, col in extra_cols.items() if name not in JSON_COLUMNS}
    extras: dict[str, list[float]] = {name: [] for name in numeric}
    json_cells: dict[str, list[str]] = {name: [] for name in extra_cols if name in JSON_COLUMNS}
    labels: dict[str, float] = {}  # a block's labels repeat: each text is coded once
    skipped = 0
    text = lines.decode("utf-8", errors="replace")
    for row in csv.reader(io.StringIO(text, newline="")):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # a blank line
        try:
            value = float(row[error_col])
        except (IndexError, ValueError):
            skipped += 1
            continue
        values.append(value)
        model = row[model_col] if model_col is not None and len(row) > model_col else ""
        codes.append(code(model.encode()))
        for name, col in numeric.items():
            if name in LABEL_COLUMNS:
                extras[name].append(_label_or_nan(row, col, labels))
            else:
                extras[name].append(float_or_nan(row, col))
        for name, cells in json_cells.items():
            col = extra_cols[name]
            cells.append(row[col] if col is not None and col < len(row) else "")
    return Parsed(
        np.asarray(values, dtype=np.float64),
        np.asarray(codes, dtype=np.int32),
        {name: np.asarray(column, dtype=np.float64) for name, column in extras.items()},
        skipped,
        parse_scores(json_cells[SCORES]) if SCORES in json_cells else None,
        parse_tags(json_cells[TAGS]) if TAGS in json_cells else None,
    )


def _label_or_nan(row: list[str], col: int | None, seen: dict[str, float]) -> float:
    if col is None or col >= len(row):
        return math.nan
    cell = row[col]
    value = seen.get(cell)
    if value is None:
        value = seen[cell] = label_value(cell)
    return value


def float_or_nan(row: list[str], col: int | None) -> float:
    if col is None or col >= len(row):
        return math.nan
    try:
        return float(row[col])
    except ValueError:
        return math.nan


@dataclass(frozen=True)
class Fields:
    """Where the fields of each line lie in a block of unquoted CSV lines."""

    data: npt.NDArray[np.uint8]
    commas: npt.NDArray[np.intp]  # positions of every comma, then a sentinel past the end
    starts: npt.NDArray[np.intp]  # per line: its first byte
    ends: npt.NDArray[np.intp]  # per line: its newline
    first: npt.NDArray[np.intp]  # per line: the index in `commas` of its first comma
    count: npt.NDArray[np.intp]  # per line: how many fields it has (up to its first quote)
    blank: npt.NDArray[np.bool_]
    quoted: npt.NDArray[np.bool_]  # per line: it holds a quote (its last field runs to its end)

    @classmethod
    def of(cls, lines: bytes) -> Fields:
        data = np.frombuffer(lines, np.uint8)
        ends = np.flatnonzero(data == NEWLINE)
        starts = np.empty_like(ends)
        starts[:1] = 0
        starts[1:] = ends[:-1] + 1
        commas = np.flatnonzero(data == COMMA)
        quotes = np.flatnonzero(data == QUOTE)
        quoted = np.zeros(len(ends), dtype=np.bool_)
        if len(quotes):
            # Only the commas before their line's first quote separate fields here.
            after = np.searchsorted(quotes, starts)
            first_quote = np.append(quotes, len(data))[after]
            quoted = first_quote < ends
            cut = np.minimum(first_quote, ends)
            commas = commas[commas < cut[np.searchsorted(ends, commas)]]
        commas = np.append(commas, len(data))
        first = np.searchsorted(commas, starts)
        count = np.searchsorted(commas, ends) - first + 1
        width = ends - starts
        blank = (width == 0) | ((width == 1) & (data[ends - 1] == RETURN))
        return cls(data, commas, starts, ends, first, count, blank, quoted)

    def select(self, keep: npt.NDArray[np.bool_]) -> Fields:
        return Fields(
            self.data,
            self.commas,
            self.starts[keep],
            self.ends[keep],
            self.first[keep],
            self.count[keep],
            self.blank[keep],
            self.quoted[keep],
        )

    def tails(self, index: int) -> Tails:
        """Each line's text from the start of field `index` to its end (b"" on a line with
        fewer fields), split into cells once per distinct tail."""
        begin = np.where(self.count > index, self._start_of(index), self.ends)
        return Tails.of(self._gather(begin, self.ends, MAX_TAIL_BYTES))

    def field(self, index: int) -> npt.NDArray[np.bytes_]:
        """Field `index` of every line as fixed-width bytes; b"" where a line is too short."""
        after = self.commas[np.minimum(self.first + index, len(self.commas) - 1)]
        end = np.where(self.count > index + 1, after, self.ends)
        begin = np.where(self.count > index, self._start_of(index), end)
        return self._gather(begin, end, MAX_FIELD_BYTES)

    def _start_of(self, index: int) -> npt.NDArray[np.intp]:
        """Where field `index` starts on each line that has it."""
        if index == 0:
            return self.starts
        return self.commas[np.minimum(self.first + index - 1, len(self.commas) - 1)] + 1

    def _gather(
        self, begin: npt.NDArray[np.intp], end: npt.NDArray[np.intp], limit: int
    ) -> npt.NDArray[np.bytes_]:
        """The bytes from `begin` to `end` of each line, fixed-width (NeedsSlowPath past
        `limit`)."""
        begin = begin.astype(np.int32)
        length = (end - begin).astype(np.int32)
        width = int(length.max(initial=1)) or 1
        if width > limit or width * len(begin) > GATHER_BYTES:
            raise NeedsSlowPath
        offsets = np.arange(width, dtype=np.int32)
        gathered = self.data[np.minimum(begin[:, None] + offsets, len(self.data) - 1)]
        gathered[offsets >= length[:, None]] = 0  # numpy's bytes type drops trailing NULs
        fields: npt.NDArray[np.bytes_] = gathered.view(f"S{width}").ravel()
        return fields
