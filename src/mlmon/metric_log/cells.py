"""The metric log's cells that are not plain numbers: class labels written as text, and the
`scores` and `tags` JSON objects, turned into arrays a reader hands on.

- A label cell is a number when Python's float() reads it (numeric classes, regression values;
  "nan" and "inf" too, so a class named so is lost), else a class label:
  `wire.labels.label_code` gives its float code, so labels meet the codes the metric service
  joined on, and `label_text` gives the text back in this process.
- A `scores` cell (`{"Adelie": 0.91, ...}`) becomes a row of a `ScoreMatrix`, its columns the
  classes' codes; a row without scores (an empty cell, or one that is not an object of
  probabilities) is a row of NaN.
- A `tags` cell (`{"region": "eu"}`) becomes a dict of strings, None when empty or unreadable;
  a column of them is a `TagColumn`: each distinct cell parsed once (tags repeat from row to
  row), and per row the index of its dict.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from mlmon.arrays import Floats
from mlmon.errors import DecodeError
from mlmon.wire.labels import as_number, label_code

# wire.labels gives every text label a code at or below -2**52; no number a model predicts is.
LABEL_CODE_CEILING = -(2.0**52)

Tags = dict[str, str]


def is_label_code(values: Floats) -> npt.NDArray[np.bool_]:
    """Per value: the code of a label written as text (not a number)."""
    return values <= LABEL_CODE_CEILING


def label_value(text: str, remember: bool = True) -> float:
    """A label cell's value: NaN when empty, the number it reads as, else its label's code (NaN
    past wire.labels' bound on distinct labels: a free-text column is no class label)."""
    if not text:
        return math.nan
    number = as_number(text)  # the writer's rule: "+1", " 1" or "nan" are labels, not numbers
    if number is not None:
        return number
    try:
        return label_code(text, remember)
    except DecodeError:
        return math.nan


def label_values(cells: npt.NDArray[np.bytes_]) -> Floats:
    """`label_value` of a column of cells, each distinct cell decoded once."""
    distinct, inverse = np.unique(cells, return_inverse=True)
    values = np.array(
        [label_value(bytes(cell).decode("utf-8", errors="replace")) for cell in distinct],
        dtype=np.float64,
    )
    return values[inverse.ravel()]


@dataclass(frozen=True)
class ScoreMatrix:
    """Class probabilities of a block's rows: one column per class (`classes`: label codes,
    in order of first appearance), a row of NaN where a prediction gave none. A row's class
    it did not name has probability 0."""

    classes: tuple[float, ...]
    values: Floats  # rows x classes
    unreadable: int = 0  # non-empty cells that were no object of probabilities (rows of NaN)

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def empty(cls, rows: int) -> ScoreMatrix:
        return cls((), np.full((rows, 0), np.nan))

    @classmethod
    def of_columns(cls, classes: tuple[float, ...], values: Floats) -> ScoreMatrix:
        """From scores as an Arrow batch carries them: NaN where a row, or a class of it, has
        none (here: a row without any is a row of NaN, a class a row lacks 0)."""
        unscored = np.isnan(values).all(axis=1, keepdims=True)
        return cls(classes, np.where(unscored, np.nan, np.nan_to_num(values, nan=0.0)))

    def scored(self) -> npt.NDArray[np.bool_]:
        """Per row: whether its prediction came with scores."""
        if not self.classes:
            return np.zeros(len(self.values), dtype=np.bool_)
        return ~np.isnan(self.values[:, 0])

    def select(self, rows: npt.NDArray[np.bool_] | npt.NDArray[np.intp] | slice) -> ScoreMatrix:
        return ScoreMatrix(self.classes, self.values[rows], self.unreadable)

    def aligned(self, classes: Sequence[float]) -> Floats:
        """The matrix with columns `classes` (which hold every one of ours): 0 where a class is
        not ours, NaN on rows without scores."""
        where = {code: i for i, code in enumerate(classes)}
        out = np.zeros((len(self.values), len(classes)), dtype=np.float64)
        for j, code in enumerate(self.classes):
            out[:, where[code]] = self.values[:, j]
        out[~self.scored()] = np.nan
        return out


def parse_scores(cells: Iterable[str | bytes], remember: bool = True) -> ScoreMatrix:
    """One `ScoreMatrix` row per cell, in order; `remember=False`: class keys not known as
    labels are not kept (`wire.labels.label_code`)."""
    cells = list(cells)
    uniform = _uniform_scores(cells, remember)
    if uniform is not None:
        return uniform
    rows: list[dict[float, float] | None] = []
    unreadable = 0
    for cell in cells:
        row = _score_row(cell, remember) if cell else None
        if row is None and cell:
            unreadable += 1
        rows.append(row)
    column: dict[float, int] = {}
    for row in rows:
        for code in row or ():
            column.setdefault(code, len(column))
    values = np.full((len(rows), len(column)), np.nan)
    for i, row in enumerate(rows):
        if row is not None:
            values[i] = 0.0
            for code, probability in row.items():
                values[i, column[code]] = probability
    return ScoreMatrix(tuple(column), values, unreadable)


def _uniform_scores(cells: list[str | bytes], remember: bool) -> ScoreMatrix | None:
    """`parse_scores` of cells that all hold probabilities of the same classes, in the same
    order (a classifier's log): parsed by one orjson call and checked with numpy, a third of
    the time of a cell at a time. None for any other column: the general path reads it."""
    kinds = set(map(type, cells))
    if not cells or not all(cells) or len(kinds) != 1:
        return None
    blob = b",".join(cells) if kinds == {bytes} else ",".join(cells).encode()  # type: ignore[arg-type]
    if b":true" in blob or b":false" in blob:  # a boolean is not a probability
        return None
    try:
        documents = orjson.loads(b"[" + blob + b"]")
    except orjson.JSONDecodeError:
        return None
    if len(documents) != len(cells) or set(map(type, documents)) != {dict}:
        return None  # a cell of two values, or of no object
    keys = set(map(tuple, documents))
    if len(keys) != 1:
        return None
    (classes,) = keys
    try:
        values = np.array(list(map(list, map(dict.values, documents))), dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # text, null, an integer past float's range
        return None
    codes = [label_value(key, remember) for key in classes]
    if (
        not classes
        or len(set(codes)) < len(codes)  # "1" and "1.0": one class, summed by the general path
        or any(math.isnan(code) for code in codes)
        or not bool(((values >= 0.0) & (values <= 1.0)).all())
    ):
        return None
    vanished = ~values.any(axis=1)  # probabilities that all vanish: no scores
    if vanished.all():  # no class is known from any row
        return ScoreMatrix((), np.full((len(cells), 0), np.nan), len(cells))
    values[vanished] = np.nan
    return ScoreMatrix(tuple(codes), values, int(np.count_nonzero(vanished)))


def _score_row(cell: str | bytes, remember: bool = True) -> dict[float, float] | None:
    """A cell's probabilities by class code, or None unless it is a non-empty object of
    probabilities in [0, 1] that do not all vanish."""
    try:
        document: Any = orjson.loads(cell)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict) or not document:
        return None
    row: dict[float, float] = {}
    for key, value in document.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        probability = float(value)
        if not 0.0 <= probability <= 1.0:  # NaN fails this too
            return None
        code = label_value(key, remember)
        if math.isnan(code):
            return None
        row[code] = row.get(code, 0.0) + probability  # "1" and "1.0" are one class
    return row if any(row.values()) else None


@dataclass(frozen=True)
class TagColumn:
    """The tags of a block's rows: the distinct dicts, and per row the index of its dict in
    `distinct` (-1: no tags). Rows sharing a cell share one dict: a reader must not change it."""

    index: npt.NDArray[np.int32]
    distinct: tuple[Tags, ...]

    def __len__(self) -> int:
        return len(self.index)

    @classmethod
    def empty(cls, rows: int) -> TagColumn:
        return cls(np.full(rows, -1, np.int32), ())

    def rows(self) -> tuple[Tags | None, ...]:
        """One dict (or None) per row."""
        return tuple(self.distinct[i] if i >= 0 else None for i in self.index.tolist())

    def select(self, rows: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> TagColumn:
        return TagColumn(self.index[rows], self.distinct)


def parse_tags(cells: Iterable[str | bytes]) -> TagColumn:
    """The dicts of tags of a column of cells (None when empty or not an object of strings),
    each distinct cell parsed once."""
    seen: dict[str | bytes, int] = {}
    distinct: list[Tags] = []
    index: list[int] = []
    for cell in cells:
        at = seen.get(cell)
        if at is None:
            tags = _tags(cell) if cell else None
            at = seen[cell] = -1 if tags is None else len(distinct)
            if tags is not None:
                distinct.append(tags)
        index.append(at)
    return TagColumn(np.asarray(index, dtype=np.int32), tuple(distinct))


def extras_tags(extras: Sequence[str]) -> tuple[TagColumn, npt.NDArray[np.bool_]]:
    """The tags of rows' last two log cells as the metric service forms them ("scores,tags",
    CSV-quoted; "" for neither), and per row whether it has scores; each distinct text read
    once."""
    where: dict[str, int] = {}
    index = np.fromiter(
        (where.setdefault(extra, len(where)) for extra in extras), np.intp, len(extras)
    )
    tag_cells, scored = [], []
    for extra in where:
        cells = next(csv.reader([extra]), []) if extra else []
        tag_cells.append(cells[1] if len(cells) > 1 else "")
        scored.append(bool(cells and cells[0]))
    return parse_tags(tag_cells).select(index), np.array(scored, dtype=np.bool_)[index]


def _tags(cell: str | bytes) -> Tags | None:
    try:
        document: Any = orjson.loads(cell)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    if not all(isinstance(value, str) for value in document.values()):
        return None
    return document
