"""What the dashboard keeps of classifiers' rows, block by block, in bounded memory.

A model is a classifier by `model_kind` (monitoring.quality.figures), as `mlmon report` has it:
MLMON_TASK=classification, or most of its usable rows in the first block it appears in are
classification rows (a label written as text, or scores); the choice holds for its later rows.
Per classifier (`ClassCounts`), over every row of it:

- rows and hits (y_true == y_pred): accuracy, exact;
- per class, the rows it is the true label of, the rows it is predicted for and the hits: macro
  F1 as scikit-learn computes it (over every label seen on either side), exact while the model
  has at most CLASS_LIMIT classes; past that the rest are counted as one class, `other`;
- rows per (true, predicted) pair, for the confusion matrix, up to PAIR_LIMIT pairs: rows of
  later new pairs are counted under `other` in the matrix shown (its totals stay exact);
- the score figures of its rows with scores (`summary.class_scores.ScoreSums`, as the report).

Besides, an `OverTime` of the 0/1 "wrong" of every classifier row (the same slots and axes as
the regression series, so accuracy per bucket is exact). Nothing here grows with the log.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats, Rows, rows_by_model
from mlmon.metric_log.cells import ScoreMatrix
from mlmon.metric_log.fields import SCORES
from mlmon.metric_log.reader import RowBlock
from mlmon.monitoring.quality.classes import display_order, label_name
from mlmon.monitoring.quality.figures import Mode, classifiers_of, decided_kind
from mlmon.ops.class_report import CONFUSION_CLASSES
from mlmon.summary.class_scores import ScoreSums
from mlmon.summary.over_time import TIME_BUCKETS, OverTime
from mlmon.wire import Y_PRED, Y_TRUE

CLASS_LIMIT = 5_000  # classes counted apart per model; "at most a few thousand" in practice
PAIR_LIMIT = 50_000  # (true, predicted) pairs counted apart per model (a few MB at most)
OTHER = "other"  # the matrix's row and column of the classes not shown
JOINED_AT = "joined_at"

Counts = npt.NDArray[np.int64]


class ClassCounts:
    """One classifier's counts over every row it was given (see the module)."""

    def __init__(self, class_limit: int = CLASS_LIMIT, pair_limit: int = PAIR_LIMIT) -> None:
        self.rows = 0
        self.hits = 0
        self.codes: list[float] = []  # class codes by index, `other`'s (NaN) among them if any
        self.true: Counts = np.zeros(0, np.int64)  # per class index: rows of that true label
        self.predicted: Counts = np.zeros(0, np.int64)  # rows predicted as it
        self.hit: Counts = np.zeros(0, np.int64)  # rows of it predicted right
        self.pairs: dict[int, int] = {}  # true index * stride + predicted index -> rows
        self.pairs_left_out = 0  # rows of pairs past the limit (shown under `other`)
        self.scores = ScoreSums()
        self._class_limit = class_limit
        self._pair_limit = pair_limit
        self._stride = class_limit + 1  # room for `other`'s index
        self._index: dict[float, int] = {}
        self._other: int | None = None  # the index of `other`, once a class is past the limit

    def __repr__(self) -> str:
        return f"ClassCounts(rows={self.rows}, classes={len(self.codes)}, pairs={len(self.pairs)})"

    @property
    def lumped(self) -> bool:
        """Some classes are past CLASS_LIMIT, counted together: macro F1 is then approximate."""
        return self._other is not None

    def add(self, y_true: Floats, y_pred: Floats, scores: ScoreMatrix | None = None) -> None:
        """Take a block of this model's rows: true and predicted labels (codes, finite), and
        their scores if the log has any."""
        if not len(y_true):
            return
        trues, preds = self._indices(y_true), self._indices(y_pred)
        size = len(self.codes)
        if len(self.true) < size:  # new classes: their counts start at 0
            grow = (0, size - len(self.true))
            self.true, self.predicted, self.hit = (
                np.pad(counts, grow) for counts in (self.true, self.predicted, self.hit)
            )
        right = y_true == y_pred
        self.true += np.bincount(trues, minlength=size)
        self.predicted += np.bincount(preds, minlength=size)
        self.hit += np.bincount(trues[right], minlength=size)
        self.rows += len(trues)
        self.hits += int(np.count_nonzero(right))
        keys, counts = np.unique(trues * self._stride + preds, return_counts=True)
        for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
            if key in self.pairs:
                self.pairs[key] += count
            elif len(self.pairs) < self._pair_limit:
                self.pairs[key] = count
            else:
                self.pairs_left_out += count
        if scores is not None:
            self.scores.add(y_true, scores)

    def _indices(self, codes: Floats) -> npt.NDArray[np.int64]:
        """Each code's class index, new classes given the next (or `other`'s, past the limit)."""
        distinct, inverse = np.unique(codes, return_inverse=True)
        mapped = np.array([self._index_of(code) for code in distinct.tolist()], dtype=np.int64)
        indices: npt.NDArray[np.int64] = mapped[inverse.ravel()]
        return indices

    def _index_of(self, code: float) -> int:
        index = self._index.get(code)
        if index is not None:
            return index
        if len(self._index) < self._class_limit:
            index = self._index[code] = len(self.codes)
            self.codes.append(code)
            return index
        if self._other is None:
            self._other = len(self.codes)
            self.codes.append(math.nan)
        return self._other

    @property
    def accuracy(self) -> float | None:
        return self.hits / self.rows if self.rows else None

    @property
    def macro_f1(self) -> float | None:
        """The mean over classes of 2 * hits / (true rows + predicted rows), scikit-learn's
        f1_score(average="macro") over every label seen."""
        if not self.rows:
            return None
        seen = self.true + self.predicted
        return float(np.mean(2 * self.hit[seen > 0] / seen[seen > 0]))

    def confusion(self, shown: int = CONFUSION_CLASSES) -> dict[str, Any]:
        """The confusion matrix (rows: true label, columns: predicted) of at most `shown`
        classes, the ones with most rows, in display order (numbers, then texts); the rest,
        and rows of pairs past PAIR_LIMIT, in a last row and column, `other`."""
        named = [i for i in range(len(self.codes)) if i != self._other]
        if len(named) > shown:
            busiest = sorted(named, key=lambda i: -int(self.true[i] + self.predicted[i]))
            named = sorted(busiest[:shown])
        named = [named[k] for k in display_order([self.codes[i] for i in named])]
        where = {index: k for k, index in enumerate(named)}
        k = len(named)
        matrix = np.zeros((k + 1, k + 1), dtype=np.int64)
        for key, count in self.pairs.items():
            row, column = where.get(key // self._stride), where.get(key % self._stride)
            if row is not None and column is not None:
                matrix[row, column] = count
        # The rest of each shown class's row and column is `other`: totals stay exact.
        matrix[:k, k] = self.true[named] - matrix[:k, :k].sum(axis=1)
        matrix[k, :k] = self.predicted[named] - matrix[:k, :k].sum(axis=0)
        matrix[k, k] = self.rows - matrix.sum()
        other = bool(matrix[k].any() or matrix[:, k].any())
        if not other:
            matrix = matrix[:k, :k]
        return {
            "labels": [label_name(self.codes[i]) for i in named] + ([OTHER] if other else []),
            "matrix": matrix.tolist(),
            "other": other,
            "classes": len(self.codes) - (self._other is not None),
            "lumped": self.lumped,
            "rows": self.rows,
        }


class Classifiers:
    """The classifier part of the dashboard's view of the log: which models are classifiers,
    each one's `ClassCounts`, and the over-time series of their wrong rows. It takes every
    block the reader hands over (`add`, `reset`), alongside the `LogSummary`."""

    columns = (Y_TRUE, Y_PRED, JOINED_AT, SCORES)

    def __init__(self, task: Mode = "regression") -> None:
        self.task: Mode = task
        self.reset()

    def __repr__(self) -> str:
        return f"Classifiers(task={self.task!r}, models={list(self.counts)})"

    def reset(self) -> None:
        self.names: tuple[str, ...] = ()
        self.kinds: dict[str, Mode] = {}  # model name -> its kind, decided on its first rows
        self.counts: dict[str, ClassCounts] = {}  # by model name, in order of first rows
        self.over_time = OverTime(TIME_BUCKETS)

    @property
    def models(self) -> frozenset[str]:
        """The names of the models that are classifiers."""
        return classifiers_of(self.kinds)

    def add(self, block: RowBlock) -> None:
        self.names = block.names
        if not len(block):
            return
        y_true, y_pred = block.column(Y_TRUE), block.column(Y_PRED)
        usable = np.isfinite(y_true) & np.isfinite(y_pred)
        classified = block.classified()
        split: list[tuple[int, Rows]] = []
        for code, rows in rows_by_model(block.codes):
            name = block.names[code]
            kind = decided_kind(self.kinds, self.task, name, usable[rows], classified[rows])
            if kind != "classification":
                continue
            kept = np.arange(len(block))[rows][usable[rows]]
            if not len(kept):
                continue
            scores = None if block.scores is None else block.scores.select(kept)
            counts = self.counts.setdefault(name, ClassCounts())
            counts.add(y_true[kept], y_pred[kept], scores)
            split.append((code, kept))
        if split or self.counts:
            # Every block from a classifier's first rows on, so that the current run's pauses
            # are the log's; not before, as a regression log would pay for it on every block
            # (a log by row numbers, a seed log, counts them from there: it has one model).
            wrong = (y_true != y_pred).astype(np.float64)
            self.over_time.add(wrong, split, block.column(JOINED_AT))
