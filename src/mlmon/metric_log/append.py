"""Crash-safe append-only CSV files: metric_log.csv and orphans.csv.

Each append is written, flushed and fsync'd, and returns the new end offset, which the caller
commits in its own durable state together with the effects it stands for. On start-up the file
is cut back to the last committed offset: whatever lies beyond it (a torn row, or rows whose
deliveries were never acked) will be written again from redelivered messages, so every row
appears exactly once and no reader ever sees half a row after a crash.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import orjson

log = logging.getLogger(__name__)

Cell = str | float | int | None


def format_rows(rows: Iterable[Sequence[Cell]]) -> str:
    """CSV text for rows; floats in their shortest exact form, None as an empty cell.

    Written by hand rather than with the csv module: with a "\n" line terminator the csv
    module leaves a lone "\r" unquoted, which a reader then takes for a line break.
    """
    return "".join(",".join(map(format_cell, row)) + "\n" for row in rows)


def float_rows(columns: Sequence[np.ndarray]) -> list[str]:
    """Per row, the `repr` of each column's value (the shortest text that reads back exactly),
    comma-separated: for 1D float64 arrays of one length. Faster than repr cell by cell joined
    per row: orjson writes the whole grid in one C pass, straight from numpy, and one
    split cuts it into rows. Only its notation of tiny, huge and non-finite values differs from
    repr (1e-7 for 1e-07, 0.000025 for 2.5e-05, null for NaN and Infinity; 1e16 for 1e+16 in
    some versions), so rows with a magnitude below 1e-4 or from 1e16 up, or a non-finite value,
    are redone with repr. Within those bounds the text is repr's (a review compared orjson's
    output with repr's; see docs/performance-history.md)."""
    if not columns or not len(columns[0]):
        return []
    grid = np.column_stack(columns).astype(np.float64, copy=False)
    cells = _grid_text(grid).split("],[")
    for index in _odd_rows(grid):
        cells[index] = ",".join(map(repr, grid[index].tolist()))
    return cells


def float_columns(matrix: np.ndarray, json: bool = False) -> list[list[str]]:
    """Each column of a 2D float array as `float_rows` writes its values (repr's text), from
    one pass over the whole matrix; `json`: as JSON writes them (orjson's shortest text, which
    is msgspec's too: 1e-6 where repr writes 1e-06), for finite values only, with no redoing
    of the rows where it differs from repr (a classifier's tiny scores made most rows such)."""
    rows, width = matrix.shape
    if not rows or not width:
        return [[] for _ in range(width)]
    grid = np.ascontiguousarray(matrix, dtype=np.float64)
    cells = _grid_text(grid).replace("],[", ",").split(",")
    if json:
        if not np.isfinite(grid).all():
            raise ValueError("JSON has no text for NaN or Infinity")
    else:
        for index in _odd_rows(grid):
            cells[index * width : (index + 1) * width] = map(repr, grid[index].tolist())
    return [cells[j::width] for j in range(width)]


def _grid_text(grid: np.ndarray) -> str:
    """orjson's text of a 2D grid without its outer brackets: "a,b],[c,d"."""
    return orjson.dumps(grid, option=orjson.OPT_SERIALIZE_NUMPY)[2:-2].decode()


def _odd_rows(grid: np.ndarray) -> list[int]:
    """The rows where orjson's notation may differ from repr's (see `float_rows`)."""
    magnitude = np.abs(grid)
    odd = ((magnitude < 1e-4) & (magnitude != 0)) | ~(magnitude < 1e16)  # NaN is not < 1e16
    rows: list[int] = np.flatnonzero(odd.any(axis=1)).tolist()
    return rows


def format_row(row: Sequence[Cell]) -> str:
    """One row's cells as CSV, without the line end."""
    return ",".join(map(format_cell, row))


def needs_quotes(text: str) -> bool:
    # Four scans of the text in C: far quicker than one regex search on a batch's ids.
    return "," in text or '"' in text or "\r" in text or "\n" in text


def format_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if needs_quotes(text) else text


class AppendLog:
    """One CSV file with a fixed header, appended durably."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.header = format_rows([columns]).encode()
        self._handle: io.BufferedWriter | None = None

    def __repr__(self) -> str:
        return f"AppendLog({str(self.path)!r})"

    def open(self, committed_offset: int) -> int:
        """Cut the file back to `committed_offset` (or start it) and return the offset to commit."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        size = self.path.stat().st_size if self.path.exists() else 0
        if size == 0:
            self._start_fresh()
        elif committed_offset == 0:
            # A log from before our state existed (an older run, or the seeds'): append to it.
            self._check_header()
        elif size < committed_offset:
            log.warning(
                "%s is shorter than committed (%d < %d bytes): it was replaced; starting it afresh",
                self.path,
                size,
                committed_offset,
            )
            self._start_fresh()
        elif size > committed_offset:
            log.warning(
                "%s: dropping %d uncommitted bytes after a crash; they will be rewritten",
                self.path,
                size - committed_offset,
            )
            os.truncate(self.path, committed_offset)
        self._handle = self.path.open("ab")
        return self._handle.tell()

    def _start_fresh(self) -> None:
        with self.path.open("wb") as handle:
            handle.write(self.header)
            handle.flush()
            os.fsync(handle.fileno())

    def _check_header(self) -> None:
        with self.path.open("rb") as handle:
            first = handle.readline()
        if not self.header.startswith(first.rstrip(b"\r\n")[: len(self.header) - 1]):
            log.warning("%s has an unexpected header %r", self.path, first[:200])
        with self.path.open("rb+") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() and (handle.seek(-1, os.SEEK_END), handle.read(1))[1] != b"\n":
                handle.write(b"\n")  # never glue our first row onto a torn foreign one

    def append(self, rows: Sequence[Sequence[Cell]]) -> int:
        """Write rows durably; return the new end offset."""
        return self.append_text(format_rows(rows))

    def append_text(self, text: str) -> int:
        """Write already formatted CSV lines durably; return the new end offset."""
        if self._handle is None:
            msg = f"{self!r}.open() was not called"
            raise RuntimeError(msg)
        if text:
            self._handle.write(text.encode())
            self._handle.flush()
            os.fsync(self._handle.fileno())
        return self._handle.tell()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
