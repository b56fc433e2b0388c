"""The fields of a block of metric-log lines as numpy columns: numpy locates the commas of
unquoted lines and converts whole columns at once; quoting, blank, short or unparsable lines
send the block to the `csv` module, row by row."""

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

MAX_FIELD_BYTES = 256  # longer fields are left to the csv module
NEWLINE, RETURN, COMMA = ord("\n"), ord("\r"), ord(",")

ModelCode = Callable[[bytes], int]  # a model name as written -> its code in the reader


class Parsed(NamedTuple):
    """One block's rows: errors, model codes and extra columns aligned; rows left out."""

    errors: Floats
    codes: npt.NDArray[np.int32]
    extras: dict[str, Floats]
    skipped: int  # short or unparsable rows (blank lines are not counted)


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
        if b'"' in lines:
            raise NeedsSlowPath
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
    usable = table.count > error_col
    short = int(np.count_nonzero(~usable & ~table.blank))
    if not usable.all():
        table = table.select(usable)
    try:
        values = table.field(error_col).astype(np.float64)
    except ValueError:
        raise NeedsSlowPath from None
    codes = _model_codes(table, model_col, len(values), code)
    extras = {}
    for name, col in extra_cols.items():
        if col is None:
            extras[name] = np.full(len(values), np.nan)
            continue
        raw = table.field(col)
        try:  # an empty cell (a row without it) reads as NaN
            extras[name] = np.where(raw == b"", b"nan", raw).astype(np.float64)
        except ValueError:
            raise NeedsSlowPath from None
    return Parsed(values, codes, extras, short)


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
    extras: dict[str, list[float]] = {name: [] for name in extra_cols}
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
        for name, col in extra_cols.items():
            extras[name].append(float_or_nan(row, col))
    return Parsed(
        np.asarray(values, dtype=np.float64),
        np.asarray(codes, dtype=np.int32),
        {name: np.asarray(column, dtype=np.float64) for name, column in extras.items()},
        skipped,
    )


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
    count: npt.NDArray[np.intp]  # per line: how many fields it has
    blank: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, lines: bytes) -> Fields:
        data = np.frombuffer(lines, np.uint8)
        ends = np.flatnonzero(data == NEWLINE)
        starts = np.empty_like(ends)
        starts[:1] = 0
        starts[1:] = ends[:-1] + 1
        commas = np.append(np.flatnonzero(data == COMMA), len(data))
        first = np.searchsorted(commas, starts)
        count = np.searchsorted(commas, ends) - first + 1
        width = ends - starts
        blank = (width == 0) | ((width == 1) & (data[ends - 1] == RETURN))
        return cls(data, commas, starts, ends, first, count, blank)

    def select(self, keep: npt.NDArray[np.bool_]) -> Fields:
        return Fields(
            self.data,
            self.commas,
            self.starts[keep],
            self.ends[keep],
            self.first[keep],
            self.count[keep],
            self.blank[keep],
        )

    def field(self, index: int) -> npt.NDArray[np.bytes_]:
        """Field `index` of every line as fixed-width bytes; b"" where a line is too short."""
        last_comma = len(self.commas) - 1
        after = self.commas[np.minimum(self.first + index, last_comma)]
        end = np.where(self.count > index + 1, after, self.ends)
        if index == 0:
            begin = self.starts
        else:
            begin = self.commas[np.minimum(self.first + index - 1, last_comma)] + 1
        begin = np.where(self.count > index, begin, end).astype(np.int32)
        length = (end - begin).astype(np.int32)
        width = int(length.max(initial=1)) or 1
        if width > MAX_FIELD_BYTES:
            raise NeedsSlowPath
        offsets = np.arange(width, dtype=np.int32)
        gathered = self.data[np.minimum(begin[:, None] + offsets, len(self.data) - 1)]
        gathered[offsets >= length[:, None]] = 0  # numpy's bytes type drops trailing NULs
        fields: npt.NDArray[np.bytes_] = gathered.view(f"S{width}").ravel()
        return fields
