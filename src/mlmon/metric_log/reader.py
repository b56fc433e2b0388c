"""Incremental reader of metric_log.csv: only the bytes appended since the last poll are read.

The reader keeps a byte offset at the end of the last complete line it consumed (`tail.LineTail`),
so a poll with nothing new costs one `stat`, and a row the writer has only half written is left
for the next poll. If the file is replaced, cut back (the metric service truncates uncommitted
rows after a crash) or removed, the reader notices and starts again from the top.

The reader keeps no rows: it hands each block of parsed rows (`fields.parse`: at most
READ_BYTES of the file) to a `RowSink`, and tells it to start over when the file does, so the
memory of a process that follows the log is whatever its sink keeps (`LogSummary`: a bounded
amount), not the log.

Logs of every layout are read: the seeds' four columns, the eight before `scores` and `tags`,
and METRIC_COLUMNS. y_true and y_pred may be class labels as text (handed on as their codes,
`wire.labels`); a sink that names `scores` or `tags` among its columns gets them too
(`RowBlock.scores`, `RowBlock.tags`).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from mlmon.metric_log.cells import ScoreMatrix, TagColumn, is_label_code
from mlmon.metric_log.fields import parse
from mlmon.metric_log.layout import ERROR_COLUMN, METRIC_COLUMNS, MODEL_COLUMN
from mlmon.metric_log.tail import LineTail
from mlmon.wire import Y_PRED, Y_TRUE

log = logging.getLogger(__name__)

# The metric service appends rows of this layout to a seed log it finds in place, under the
# seeds' four-column header, which is a prefix of it.
FULL_LAYOUT = METRIC_COLUMNS

# Models told apart; names past these (a mislabelled column: an id per row) are counted as one
# group, OTHER_MODELS, as each model costs its figures, sample and slots for good.
TRACKED_MODELS = 32
OTHER_MODELS = "(other models)"
RAW_NAMES_KEPT = 1024  # spellings of model names remembered (names with spaces around them)


@dataclass(frozen=True)
class RowBlock:
    """Rows of the log as parsed from one block of it, column by column (fresh arrays, which
    the reader never writes to again, so a sink may keep them or slices of them)."""

    errors: npt.NDArray[np.float64]
    codes: npt.NDArray[np.int32]  # per row, the index of its model in `names`
    names: tuple[str, ...]  # every model name read so far, in order of first appearance
    extras: Mapping[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    scores: ScoreMatrix | None = None  # when the sink asked for "scores"
    tags: TagColumn | None = None  # when the sink asked for "tags"

    def __len__(self) -> int:
        return len(self.errors)

    def column(self, name: str) -> npt.NDArray[np.float64]:
        """An extra column aligned with `errors`; all NaN when the reader was not asked for it."""
        found = self.extras.get(name)
        return np.full(len(self.errors), np.nan) if found is None else found

    def scored(self) -> npt.NDArray[np.bool_]:
        """Per row: whether its prediction came with scores (none unless asked for)."""
        if self.scores is None:
            return np.zeros(len(self.errors), dtype=np.bool_)
        return self.scores.scored()

    def classified(self) -> npt.NDArray[np.bool_]:
        """Per row: classification whatever the task setting, as its y_true or y_pred is a
        class label written as text, or it has scores (only what the sink asked for is seen)."""
        text = is_label_code(self.column(Y_TRUE)) | is_label_code(self.column(Y_PRED))
        return text | self.scored()


class RowSink(Protocol):
    """What the reader hands rows to."""

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the sink needs besides the errors and models (numeric ones, and "scores"
        or "tags"): the reader parses them whatever else it is asked for, so a sink never
        silently goes without."""

    def add(self, block: RowBlock) -> None:
        """Take the rows of one block, in log order."""

    def reset(self) -> None:
        """Forget every row taken: the log is being read again from its top."""


class Sinks:
    """Several sinks fed from one read of the log (the plot's summary and change detection)."""

    def __init__(self, *sinks: RowSink) -> None:
        self._sinks = sinks

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for sink in self._sinks for name in sink.columns))

    def add(self, block: RowBlock) -> None:
        for sink in self._sinks:
            sink.add(block)

    def reset(self) -> None:
        for sink in self._sinks:
            sink.reset()


class MetricLogReader:
    """The absolute errors (and model names) of one metric log, read incrementally and handed
    to `sink` block by block; the reader itself keeps counts, not rows.

    The sink's `columns`, and any more columns named in `extra`, are parsed aligned with the
    errors (NaN where a row has none; "scores" and "tags" into `RowBlock.scores` and `.tags`).
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
            f"MetricLogReader({str(self.path)!r}, count={self._count}, "
            f"skipped={self.skipped}, offset={self._lines.offset})"
        )

    def _clear(self) -> None:
        self.skipped = 0
        self._header_read = False
        self._error_col: int | None = None
        self._model_col: int | None = None
        self._extra_cols: dict[str, int | None] = dict.fromkeys(self._extra_names)
        self._count = 0
        self.unreadable_scores = 0  # scores cells that were no object of probabilities
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
        values, codes, extras, skipped, scores, tags = parse(
            lines, self._error_col, self._model_col, self._extra_cols, self._code
        )
        self.skipped += skipped
        finite = np.isfinite(values)
        if scores is not None:
            self.unreadable_scores += scores.unreadable
        if not finite.all():
            self.skipped += int(np.count_nonzero(~finite))
            values, codes = values[finite], codes[finite]
            extras = {name: column[finite] for name, column in extras.items()}
            scores = None if scores is None else scores.select(finite)
            tags = None if tags is None else tags.select(finite)
        if len(values):
            block = RowBlock(values, codes, tuple(self._names), extras, scores, tags)
            try:
                self._sink.add(block)
            except Exception:
                # The sink may hold part of the block, and the offset stays before it: read
                # the log again from the top rather than count any row twice.
                self._lines.rewind()
                self._reset("could not be taken in full")
                raise
            self._count += len(values)
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
