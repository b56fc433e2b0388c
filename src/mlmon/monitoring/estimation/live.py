"""Estimates on a stream: each new prediction's share of its bucket's estimated figures.

A prediction's *cells* are a row of numbers whose sum over a set of predictions gives the set's
estimated figures (`estimated_figures`), so an event-time bucket, a window or a merged coarser
bucket keeps only a vector of sums, exactly as the realized figures keep theirs:

- regression (DLE): `[1, predicted |error|, predicted error²]` (3 cells);
- classification (CBPE): `[1, the expected confusion matrix's k x k cells]` (1 + k² cells,
  row i predicted as class j adding its calibrated probability of each true class t to
  cell (t, j)).

A row that cannot be estimated (no scores, a class the reference never saw, a sampled-out row)
has all cells 0: it counts in no estimate. `LiveEstimator` turns a batch of predictions into
cells; `EstimateWindow` keeps the latest rows of a model for the live figures, the ROC AUC
included (not additive: the window keeps its rows' scores for it).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.errors import EstimationError
from mlmon.monitoring.estimation.checks import positions
from mlmon.monitoring.estimation.confidence import ConfidenceEstimator
from mlmon.monitoring.estimation.confusion import ExpectedConfusion
from mlmon.monitoring.estimation.loss import LossEstimator, LossSums
from mlmon.monitoring.estimation.roc_auc import estimated_roc_auc

Kind = Literal["regression", "classification"]
REGRESSION_CELLS = 3
MAX_CATEGORIES = 254  # per categorical feature, coded 0..253 for the trees (others: missing)
MAX_ESTIMATED_CLASSES = 32  # CBPE's cells grow as k²: past this, estimation is off
REGRESSION_FIGURES = ("est_mae", "est_rmse")
CLASSIFICATION_FIGURES = ("est_accuracy", "est_precision", "est_recall", "est_f1")


@dataclass(frozen=True)
class FeatureCoder:
    """Named features as the loss model's matrix: numbers as they are, a categorical
    feature's reference categories as codes (most frequent first), anything else missing."""

    names: tuple[str, ...]
    categories: Mapping[str, Mapping[str, int]]

    @classmethod
    def fit(cls, columns: Mapping[str, npt.NDArray[Any]]) -> FeatureCoder:
        categories: dict[str, dict[str, int]] = {}
        for name, column in columns.items():
            if column.dtype != object:
                continue
            present = [v for v in column.tolist() if isinstance(v, str)]
            texts, counts = np.unique(np.asarray(present, dtype=object), return_counts=True)
            ranked = texts[np.argsort(-counts, kind="stable")][:MAX_CATEGORIES].tolist()
            categories[name] = {text: code for code, text in enumerate(ranked)}
        return cls(tuple(columns), categories)

    @property
    def categorical(self) -> list[int]:
        return [i for i, name in enumerate(self.names) if name in self.categories]

    def _column(self, name: str, values: Sequence[Any]) -> Floats:
        codes = self.categories.get(name)
        if codes is not None:
            return np.array([codes.get(v, math.nan) if isinstance(v, str) else math.nan
                             for v in values], dtype=np.float64)  # fmt: skip
        return np.array(
            [v if isinstance(v, int | float) and not isinstance(v, bool) else math.nan
             for v in values], dtype=np.float64,
        )  # fmt: skip

    def columns(self, columns: Mapping[str, npt.NDArray[Any]], rows: int) -> Floats:
        """Arrow-style columns to rows x features (a feature not there: missing)."""
        matrix = np.full((rows, len(self.names)), math.nan)
        for j, name in enumerate(self.names):
            column = columns.get(name)
            if column is None:
                continue
            if column.dtype != object and name not in self.categories:
                matrix[:, j] = column.astype(np.float64)
            else:
                matrix[:, j] = self._column(name, column.tolist())
        return matrix

    def rows(self, rows: Sequence[Mapping[str, Any] | Sequence[float]]) -> Floats:
        """Records' features, named (a mapping) or a vector in the reference's order."""
        named = [r if isinstance(r, Mapping) else dict(zip(self.names, r, strict=False))
                 for r in rows]  # fmt: skip
        matrix = np.empty((len(rows), len(self.names)))
        for j, name in enumerate(self.names):
            matrix[:, j] = self._column(name, [r.get(name) for r in named])
        return matrix


@dataclass(frozen=True)
class Estimated:
    """A batch's cells (rows x cells), and for a classifier the rows' scores and calibrated
    probabilities in the reference's class order (NaN rows where not estimated)."""

    cells: Floats
    scores: Floats | None = None
    calibrated: Floats | None = None
    unusable: int = 0  # rows that could not be estimated (not those sampled out)

    def select(self, rows: npt.NDArray[np.bool_]) -> Estimated:
        return Estimated(
            self.cells[rows],
            None if self.scores is None else self.scores[rows],
            None if self.calibrated is None else self.calibrated[rows],
        )


class LiveEstimator:
    """Cells of new predictions; see the module. A regressor's rows need their features (every
    `every`-th row of a batch is estimated: the trees cost ~15 µs a row); a classifier's
    need their scores."""

    def __init__(
        self,
        kind: Kind,
        loss: LossEstimator | None = None,
        coder: FeatureCoder | None = None,
        confidence: ConfidenceEstimator | None = None,
        every: int = 1,
        class_names: Mapping[str, float] | None = None,
    ) -> None:
        self.kind, self.every = kind, max(1, every)
        self._loss, self._coder, self._confidence = loss, coder, confidence
        # The scores' keys of the reference's classes (their text): live scores name classes
        # by text, looked up here rather than coded, so that a stranger's key is refused, not
        # added to the process's labels.
        self.class_names = dict(class_names or {})
        if confidence is not None and len(confidence.classes) > MAX_ESTIMATED_CLASSES:
            raise EstimationError(
                f"{len(confidence.classes)} classes: estimation keeps k x k sums per bucket and "
                f"is off past {MAX_ESTIMATED_CLASSES} classes"
            )

    @property
    def cells(self) -> int:
        if self._confidence is None:
            return REGRESSION_CELLS
        return 1 + len(self._confidence.classes) ** 2

    @property
    def classes(self) -> tuple[float, ...]:
        return () if self._confidence is None else self._confidence.classes

    def classes_named(self, names: Sequence[str]) -> list[float]:
        """The class codes of scores' keys; EstimationError naming those the reference lacks."""
        found = [self.class_names.get(name) for name in names]
        unknown = [n for n, code in zip(names, found, strict=True) if code is None]
        if unknown:
            raise EstimationError(
                f"scores name classes the reference does not have: {sorted(unknown)[:10]} "
                f"(the reference's: {sorted(self.class_names)[:10]})"
            )
        return [code for code in found if code is not None]

    def features_of(self, rows: Sequence[Mapping[str, Any] | Sequence[float]]) -> Floats:
        """Records' features (named, or vectors in the reference's order) as the matrix."""
        assert self._coder is not None
        return self._coder.rows(rows)

    def features_of_columns(self, columns: Mapping[str, npt.NDArray[Any]], rows: int) -> Floats:
        assert self._coder is not None
        return self._coder.columns(columns, rows)

    def regression(self, features: Floats, y_pred: Floats) -> Estimated:
        """Cells of regression predictions from their features (rows x the reference's)."""
        assert self._loss is not None
        cells = np.zeros((len(y_pred), REGRESSION_CELLS))
        # A row none of whose features the reference knows would get the trees' one guess.
        usable = np.isfinite(y_pred) & ~np.isnan(features).all(axis=1)
        rows = np.flatnonzero(usable)[:: self.every]
        if len(rows):
            absolute, squared = self._loss.row_losses(features[rows], y_pred[rows])
            cells[rows, 0], cells[rows, 1], cells[rows, 2] = 1.0, absolute, squared
        return Estimated(cells, unusable=len(y_pred) - int(np.count_nonzero(usable)))

    def classification(self, y_pred: Floats, scores: Floats, classes: Sequence[float]) -> Estimated:
        """Cells of classification predictions (class codes) from their scores (rows x
        `classes`, NaN rows: none); raises EstimationError when the classes differ from the
        reference's."""
        assert self._confidence is not None
        k = len(self.classes)
        cells = np.zeros((len(y_pred), 1 + k * k))
        aligned = np.full((len(y_pred), k), math.nan)
        calibrated = np.full((len(y_pred), k), math.nan)
        where = positions(np.asarray(y_pred, dtype=np.float64), self.classes)
        usable = np.flatnonzero((where >= 0) & np.isfinite(scores).all(axis=1))
        if len(usable):
            matrix, probabilities = self._confidence.calibrated(scores[usable], classes)
            aligned[usable], calibrated[usable] = matrix, probabilities
            cells[usable, 0] = 1.0
            for t in range(k):
                cells[usable, 1 + t * k + where[usable]] = probabilities[:, t]
        return Estimated(cells, aligned, calibrated, len(y_pred) - len(usable))


def estimated_figures(cells: Floats, roc_auc: float | None = None) -> dict[str, float | None]:
    """The estimated figures of summed cells (by their count: 3 for regression, 1 + k² for k
    classes); {} when no row was estimated."""
    rows = round(float(cells[0])) if len(cells) else 0
    if rows <= 0:
        return {}
    if len(cells) == REGRESSION_CELLS:
        loss = LossSums(rows, float(cells[1]), float(cells[2])).estimate()
        return {"est_mae": loss.mae, "est_rmse": loss.rmse}
    k = math.isqrt(len(cells) - 1)
    if k * k != len(cells) - 1:
        raise EstimationError(f"{len(cells)} cells are neither a regression's nor a k x k matrix's")
    matrix = np.asarray(cells[1:], dtype=np.float64).reshape(k, k)
    estimate = ExpectedConfusion(tuple(float(c) for c in range(k)), matrix, rows).estimate(roc_auc)
    figures: dict[str, float | None] = {
        "est_accuracy": estimate.accuracy,
        "est_precision": estimate.precision,
        "est_recall": estimate.recall,
        "est_f1": estimate.f1,
    }
    if roc_auc is not None:
        figures["est_roc_auc"] = roc_auc
    return figures


def add_cells(total: Floats | None, part: Floats) -> Floats:
    """Two sets of predictions' cells summed (new arrays, never in place); a total of another
    layout (the reference's kind or classes changed: other cells) gives way to the part."""
    return part if total is None or len(total) != len(part) else total + part


def estimate_error(figures: Mapping[str, Any]) -> float | None:
    """How far a bucket's estimate was from its realized figure: |est - realized| of MAE
    (regression) or accuracy (classification); None without both."""
    for realized, estimated in (("mae", "est_mae"), ("accuracy", "est_accuracy")):
        a, b = figures.get(realized), figures.get(estimated)
        if isinstance(a, int | float) and isinstance(b, int | float):
            return abs(float(b) - float(a))
    return None


class EstimateWindow:
    """A model's latest `size` estimated rows: their summed cells and, for a classifier, the
    ROC AUC of their scores."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._parts: deque[Estimated] = deque()
        self._rows = 0

    def add(self, estimated: Estimated) -> None:
        kept = estimated.cells[:, 0] > 0
        if not kept.any():
            return
        part = estimated.select(kept)
        self._parts.append(part)
        self._rows += len(part.cells)
        while self._rows - len(self._parts[0].cells) >= self.size:
            self._rows -= len(self._parts.popleft().cells)

    def figures(self) -> dict[str, float | None]:
        if not self._parts:
            return {}
        cells = np.concatenate([p.cells for p in self._parts])[-self.size :]
        roc_auc = None
        if self._parts[0].scores is not None:
            scores = np.concatenate([p.scores for p in self._parts if p.scores is not None])
            calibrated = np.concatenate(
                [p.calibrated for p in self._parts if p.calibrated is not None]
            )
            roc_auc = estimated_roc_auc(scores[-self.size :], calibrated[-self.size :])
        return estimated_figures(cells.sum(axis=0), roc_auc)
