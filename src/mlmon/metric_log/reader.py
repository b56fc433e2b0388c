"""Incremental reader of metric_log.csv: only the bytes appended since the last poll are read.

The reader keeps a byte offset at the end of the last complete line it consumed, so a poll
with nothing new costs one `stat`, and a row the writer has only half written is left for the
next poll. If the file is replaced, cut back (the metric service truncates uncommitted rows
after a crash) or removed, the reader notices and starts again from the top.

The reader keeps no rows: it hands each block of parsed rows (at most READ_BYTES of the file)
to a `RowSink`, and tells it to start over when the file does, so the memory of a process
that follows the log is whatever its sink keeps (`LogSummary`: a bounded amount), not the log.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from mlmon.metric_log.layout import METRIC_COLUMNS

log = logging.getLogger(__name__)

ERROR_COLUMN = "absolute_error"
MODEL_COLUMN = "model"
# The metric service appends rows of this layout to a seed log it finds in place, under the
# seeds' four-column header, which is a prefix of it.
FULL_LAYOUT = METRIC_COLUMNS

# Models told apart; names past these (a mislabelled column: an id per row) are counted as one
# group, OTHER_MODELS, as each model costs its figures, sample and slots for good.
TRACKED_MODELS = 32
OTHER_MODELS = "(other models)"
RAW_NAMES_KEPT = 1024  # spellings of model names remembered (names with spaces around them)
READ_BYTES = 4 << 20  # parse in blocks so temporary lists stay small
TAIL_BYTES = 64  # bytes before the offset compared on each read, to notice a rewritten file
MAX_FIELD_BYTES = 256  # longer fields are left to the csv module
NEWLINE, RETURN, COMMA = ord("\n"), ord("\r"), ord(",")


class _NeedsSlowPath(Exception):
    """The block holds quoting, blank, short or unparsable rows: parse it with `csv`."""


@dataclass(frozen=True)
class RowBlock:
    """Rows of the log as parsed from one block of it, column by column (fresh arrays, which
    the reader never writes to again, so a sink may keep them or slices of them)."""

    errors: npt.NDArray[np.float64]
    codes: npt.NDArray[np.int32]  # per row, the index of its model in `names`
    names: tuple[str, ...]  # every model name read so far, in order of first appearance
    extras: Mapping[str, npt.NDArray[np.float64]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.errors)

    def column(self, name: str) -> npt.NDArray[np.float64]:
        """An extra column aligned with `errors`; all NaN when the reader was not asked for it."""
        found = self.extras.get(name)
        return np.full(len(self.errors), np.nan) if found is None else found


class RowSink(Protocol):
    """What the reader hands rows to."""

    @property
    def columns(self) -> tuple[str, ...]:
        """The numeric columns the sink needs besides the errors and models: the reader
        parses them whatever else it is asked for, so a sink never silently goes without."""

    def add(self, block: RowBlock) -> None:
        """Take the rows of one block, in log order."""

    def reset(self) -> None:
        """Forget every row taken: the log is being read again from its top."""


class LineTail:
    """The complete lines appended to a file since the last read, block by block. If the file
    is replaced, removed, cut back or rewritten below what was read, it starts again from the
    top, telling `on_reset` why first; a line the writer has only half written waits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rewind()

    def rewind(self) -> None:
        """Read the file again from the top on the next read."""
        self.offset = 0  # end of the last complete line read
        self._tail = b""  # the bytes before it, to notice a rewrite
        self._identity: tuple[int, int] | None = None

    def read(self, take: Callable[[bytes], int], on_reset: Callable[[str], None]) -> int:
        """Hand each block of new complete lines to `take`; return the sum of what it returns.
        Nothing new costs one `stat`."""
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            if self._identity is not None:
                self.rewind()
                on_reset("disappeared")
            return 0
        if (status.st_dev, status.st_ino) == self._identity and status.st_size == self.offset:
            return 0
        try:
            with self.path.open("rb") as handle:
                return self._read(handle, take, on_reset)
        except FileNotFoundError:
            return 0  # removed between stat and open; the next read resets

    def _read(
        self,
        handle: io.BufferedReader,
        take: Callable[[bytes], int],
        on_reset: Callable[[str], None],
    ) -> int:
        status = os.fstat(handle.fileno())
        identity = (status.st_dev, status.st_ino)
        reason = None
        if self._identity is not None and identity != self._identity:
            reason = "was replaced"
        elif status.st_size < self.offset:
            reason = "shrank below what was read"
        elif self._tail:
            handle.seek(self.offset - len(self._tail))
            if handle.read(len(self._tail)) != self._tail:
                reason = "was rewritten"
        if reason is not None:
            self.rewind()
            on_reset(reason)
        self._identity = identity
        handle.seek(self.offset)
        remaining = status.st_size - self.offset  # lines appended meanwhile wait for next read
        taken = 0
        carry = b""
        while remaining > 0:
            block = handle.read(min(READ_BYTES, remaining))
            if not block:
                break  # cut back while we read; the next read notices
            remaining -= len(block)
            data = carry + block if carry else block
            end = data.rfind(b"\n") + 1
            carry = data[end:]
            if end:
                taken += take(data[:end])
                self.offset += end
                self._tail = data[max(0, end - TAIL_BYTES) : end]
        return taken


class ErrorLogReader:
    """The absolute errors (and model names) of one metric log, read incrementally and handed
    to `sink` block by block; the reader itself keeps counts, not rows.

    The sink's `columns`, and any more numeric columns named in `extra`, are parsed aligned
    with the errors (NaN where a row has none).
    """

    def __init__(self, path: Path, sink: RowSink, extra: tuple[str, ...] = ()) -> None:
        self.path = Path(path)
        self.resets = 0
        self._sink = sink
        self._extra_names = tuple(dict.fromkeys((*sink.columns, *extra)))
        self._lines = LineTail(self.path)
        self._clear()

    def __repr__(self) -> str:
        return (
            f"ErrorLogReader({str(self.path)!r}, count={self._count}, "
            f"skipped={self.skipped}, offset={self._lines.offset})"
        )

    def _clear(self) -> None:
        self.skipped = 0
        self._header_read = False
        self._error_col: int | None = None
        self._model_col: int | None = None
        self._extra_cols: dict[str, int | None] = dict.fromkeys(self._extra_names)
        self._count = 0
        self._sum = 0.0
        self._names: list[str] = []
        self._code_of_raw: dict[bytes, int] = {}
        self._code_of_name: dict[str, int] = {}  # at most TRACKED_MODELS
        self._other: int | None = None  # the code of OTHER_MODELS, once there are more

    def _reset(self, reason: str) -> None:
        log.info("%s %s: reading it again from the top", self.path, reason)
        self.resets += 1
        self._clear()
        self._sink.reset()

    @property
    def count(self) -> int:
        """Rows read so far."""
        return self._count

    @property
    def mean(self) -> float:
        """Mean absolute error of the rows read so far; NaN when there are none."""
        return self._sum / self._count if self._count else math.nan

    @property
    def model_names(self) -> tuple[str, ...]:
        """Distinct model names in order of first appearance; "" when the log names none;
        OTHER_MODELS for those past the first TRACKED_MODELS."""
        return tuple(self._names)

    def poll(self) -> int:
        """Read the complete rows appended since the last poll; return how many were taken."""
        return self._lines.read(self._consume, self._reset)

    def _consume(self, lines: bytes) -> int:
        """Take complete lines (ending in a newline): the header first, then rows."""
        if not self._header_read:
            first, _, lines = lines.partition(b"\n")
            self._read_header(first)
        if not lines:
            return 0
        if self._error_col is None:
            self.skipped += sum(1 for line in lines.split(b"\n") if line.strip())
            return 0
        try:
            if b'"' in lines:
                raise _NeedsSlowPath
            values, codes, extras = self._parse_fast(lines, self._error_col)
        except _NeedsSlowPath:
            values, codes, extras = self._parse_slow(lines, self._error_col)
        finite = np.isfinite(values)
        if not finite.all():
            self.skipped += int(np.count_nonzero(~finite))
            values, codes = values[finite], codes[finite]
            extras = {name: column[finite] for name, column in extras.items()}
        if len(values):
            try:
                self._sink.add(RowBlock(values, codes, tuple(self._names), extras))
            except Exception:
                # The sink may hold part of the block, and the offset stays before it: read
                # the log again from the top rather than count any row twice.
                self._lines.rewind()
                self._reset("could not be taken in full")
                raise
            self._count += len(values)
            self._sum += float(values.sum())
        return len(values)

    def _read_header(self, line: bytes) -> None:
        self._header_read = True
        text = line.decode("utf-8-sig", errors="replace")
        names = [name.strip() for name in next(csv.reader([text]), [])]
        if len(names) < len(FULL_LAYOUT) and tuple(names) == FULL_LAYOUT[: len(names)]:
            names = list(FULL_LAYOUT)  # rows the metric service appended to a seed log
        if ERROR_COLUMN in names:
            self._error_col = names.index(ERROR_COLUMN)
        else:
            log.warning(
                "%s has no %r column (header %r): its rows are skipped",
                self.path,
                ERROR_COLUMN,
                text[:200],
            )
        self._model_col = names.index(MODEL_COLUMN) if MODEL_COLUMN in names else None
        for name in self._extra_cols:
            self._extra_cols[name] = names.index(name) if name in names else None

    def _parse_fast(self, lines: bytes, error_col: int) -> _Parsed:
        """Locate the fields with numpy and convert them in bulk; give up on unparsable ones."""
        table = _Fields.of(lines)
        usable = table.count > error_col
        short = int(np.count_nonzero(~usable & ~table.blank))
        if not usable.all():
            table = table.select(usable)
        try:
            values = table.field(error_col).astype(np.float64)
        except ValueError:
            raise _NeedsSlowPath from None
        codes = self._model_codes(table, len(values))
        extras = {}
        for name, col in self._extra_cols.items():
            if col is None:
                extras[name] = np.full(len(values), np.nan)
                continue
            raw = table.field(col)
            try:  # an empty cell (a row without it) reads as NaN
                extras[name] = np.where(raw == b"", b"nan", raw).astype(np.float64)
            except ValueError:
                raise _NeedsSlowPath from None
        self.skipped += short  # only now: the slow path counts them itself
        return values, codes, extras

    def _model_codes(self, table: _Fields, n: int) -> npt.NDArray[np.int32]:
        if self._model_col is None or n == 0:
            return np.full(n, self._code(b""), np.int32)
        raw = table.field(self._model_col)
        if (raw == raw[0]).all():  # the usual case: one model; no need to sort
            return np.full(n, self._code(bytes(raw[0])), np.int32)
        distinct, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
        codes = np.zeros(len(distinct), np.int32)
        for position in np.argsort(first):  # number new models in order of appearance
            codes[position] = self._code(bytes(distinct[position]))
        return codes[inverse.ravel()]

    def _parse_slow(self, lines: bytes, error_col: int) -> _Parsed:
        """Parse row by row with `csv`, skipping (and counting) rows that cannot be used."""
        model_col = self._model_col
        values: list[float] = []
        codes: list[int] = []
        extras: dict[str, list[float]] = {name: [] for name in self._extra_cols}
        text = lines.decode("utf-8", errors="replace")
        for row in csv.reader(io.StringIO(text, newline="")):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            try:
                value = float(row[error_col])
            except (IndexError, ValueError):
                self.skipped += 1
                continue
            values.append(value)
            model = row[model_col] if model_col is not None and len(row) > model_col else ""
            codes.append(self._code(model.encode()))
            for name, col in self._extra_cols.items():
                extras[name].append(_float_or_nan(row, col))
        return (
            np.asarray(values, dtype=np.float64),
            np.asarray(codes, dtype=np.int32),
            {name: np.asarray(column, dtype=np.float64) for name, column in extras.items()},
        )

    def _code(self, raw: bytes) -> int:
        code = self._code_of_raw.get(raw)
        if code is not None:
            return code
        name = raw.decode("utf-8", errors="replace").strip()
        code = self._code_of_name.get(name)
        if code is None:
            if len(self._code_of_name) >= TRACKED_MODELS:
                return self._other_code(name)  # not remembered: memory stays bounded
            code = self._code_of_name[name] = len(self._names)
            self._names.append(name)
        if len(self._code_of_raw) < RAW_NAMES_KEPT:
            self._code_of_raw[raw] = code
        return code

    def _other_code(self, name: str) -> int:
        """The code of the group of models past TRACKED_MODELS; created, and warned about,
        with the first of them."""
        if self._other is None:
            log.warning(
                "%s names more than %d models (%r is one more): the rest are counted together "
                "as %r",
                self.path,
                TRACKED_MODELS,
                name[:100],
                OTHER_MODELS,
            )
            self._other = len(self._names)
            self._names.append(OTHER_MODELS)
        return self._other


_Parsed = tuple[npt.NDArray[np.float64], npt.NDArray[np.int32], dict[str, npt.NDArray[np.float64]]]


def _float_or_nan(row: list[str], col: int | None) -> float:
    if col is None or col >= len(row):
        return math.nan
    try:
        return float(row[col])
    except ValueError:
        return math.nan


@dataclass(frozen=True)
class _Fields:
    """Where the fields of each line lie in a block of unquoted CSV lines."""

    data: npt.NDArray[np.uint8]
    commas: npt.NDArray[np.intp]  # positions of every comma, then a sentinel past the end
    starts: npt.NDArray[np.intp]  # per line: its first byte
    ends: npt.NDArray[np.intp]  # per line: its newline
    first: npt.NDArray[np.intp]  # per line: the index in `commas` of its first comma
    count: npt.NDArray[np.intp]  # per line: how many fields it has
    blank: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, lines: bytes) -> _Fields:
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

    def select(self, keep: npt.NDArray[np.bool_]) -> _Fields:
        return _Fields(
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
            raise _NeedsSlowPath
        offsets = np.arange(width, dtype=np.int32)
        gathered = self.data[np.minimum(begin[:, None] + offsets, len(self.data) - 1)]
        gathered[offsets >= length[:, None]] = 0  # numpy's bytes type drops trailing NULs
        fields: npt.NDArray[np.bytes_] = gathered.view(f"S{width}").ravel()
        return fields
