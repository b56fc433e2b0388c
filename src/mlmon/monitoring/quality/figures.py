"""One window's figures (`RegressionFigures`, `ClassificationFigures`) and how to compute them
exactly from the records themselves."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.monitoring.quality.classes import label_name

Mode = Literal["regression", "classification"]


def model_kind(task: Mode, usable: int, classified: int) -> Mode | None:
    """A model's kind from its first rows: `usable` of them, `classified` of those
    classification rows; None while it has no usable row. The one rule the report, the
    dashboard and the plot's pictures follow."""
    if task == "classification":
        return "classification"
    if usable == 0:
        return None
    return "classification" if 2 * classified > usable else "regression"


def decided_kind(
    kinds: dict[str, Mode], task: Mode, name: str, usable: npt.NDArray[np.bool_],
    classified: npt.NDArray[np.bool_],
) -> Mode | None:  # fmt: skip
    """`name`'s kind as `kinds` holds it, else decided now by `model_kind` on these rows of it
    (`usable` ones, `classified` among them) and kept in `kinds` for its later rows."""
    kind = kinds.get(name)
    if kind is None:
        count = int(np.count_nonzero(usable))
        kind = model_kind(task, count, int(np.count_nonzero(usable & classified)))
        if kind is not None:
            kinds[name] = kind
    return kind


def classifiers_of(kinds: dict[str, Mode]) -> frozenset[str]:
    """The names `kinds` holds as classifiers."""
    return frozenset(name for name, kind in kinds.items() if kind == "classification")


MAPE_EPS = 1e-9  # |y_true| below this leaves a record out of MAPE (it would divide by ~0)
QUANTILES = (0.5, 0.9, 0.99)


@dataclass(frozen=True, slots=True)
class RegressionFigures:
    """One window's regression figures; None where undefined (no records, R² of one, ...)."""

    count: int
    mae: float | None
    rmse: float | None
    mape: float | None  # a fraction, like scikit-learn's; None when no |y_true| >= MAPE_EPS
    mape_skipped: int  # records left out of MAPE for |y_true| < MAPE_EPS
    r2: float | None  # None with fewer than 2 records or when y_true does not vary
    bias: float | None  # mean(y_pred - y_true)
    max_abs_error: float | None
    abs_error_p50: float | None
    abs_error_p90: float | None
    abs_error_p99: float | None

    def to_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


@dataclass(frozen=True, slots=True)
class ClassificationFigures:
    """One window's classification figures, macro-averaged over the labels it holds."""

    count: int
    accuracy: float | None
    precision: float | None  # a label never predicted counts 0, as zero_division=0 does
    recall: float | None
    f1: float | None
    labels: tuple[float, ...]  # every label seen as y_true or y_pred, ascending (codes)
    confusion: tuple[tuple[int, ...], ...]  # [i][j]: records of label i predicted as label j

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "labels": list(self.labels),
            # Text labels' names as this process knows them: a reader of the status cannot.
            "names": [label_name(label) for label in self.labels],
            "confusion": [list(row) for row in self.confusion],
        }

    def confusion_counts(self) -> dict[tuple[float, float], int]:
        """The confusion matrix as (y_true, y_pred) -> count, zero cells left out."""
        return {
            (true, pred): count
            for true, row in zip(self.labels, self.confusion, strict=True)
            for pred, count in zip(self.labels, row, strict=True)
            if count
        }


WindowFigures: TypeAlias = RegressionFigures | ClassificationFigures
NO_REGRESSION = RegressionFigures(0, None, None, None, 0, None, None, None, None, None, None)
NO_CLASSIFICATION = ClassificationFigures(0, None, None, None, None, (), ())


def regression_figures(y_true: Floats, y_pred: Floats) -> RegressionFigures:
    """Every regression figure of these records, exactly (quantiles as numpy.quantile)."""
    if y_true.size == 0:
        return NO_REGRESSION
    error = y_pred - y_true
    absolute = np.abs(error)
    denominator = np.abs(y_true)
    kept = denominator >= MAPE_EPS
    mape = float(np.mean(absolute[kept] / denominator[kept])) if kept.any() else None
    squares = float(np.sum(error * error))
    r2 = None
    if y_true.size >= 2 and y_true.min() != y_true.max():
        spread = float(np.sum((y_true - y_true.mean()) ** 2))
        r2 = 1 - squares / spread if spread > 0 else None
    p50, p90, p99 = (float(x) for x in np.quantile(absolute, QUANTILES))
    return RegressionFigures(
        count=int(y_true.size),
        mae=float(np.mean(absolute)),
        rmse=math.sqrt(squares / y_true.size),
        mape=mape,
        mape_skipped=int(y_true.size - np.count_nonzero(kept)),
        r2=r2,
        bias=float(np.mean(error)),
        max_abs_error=float(absolute.max()),
        abs_error_p50=p50,
        abs_error_p90=p90,
        abs_error_p99=p99,
    )


def classification_figures(y_true: Floats, y_pred: Floats) -> ClassificationFigures:
    """Every classification figure of these records (labels: every one seen on either side)."""
    labels, confusion = confusion_of(y_true, y_pred)
    return from_confusion(tuple(float(x) for x in labels), confusion)


def confusion_of(y_true: Floats, y_pred: Floats) -> tuple[Floats, npt.NDArray[np.int64]]:
    labels = np.unique(np.concatenate([y_true, y_pred]))
    k = labels.size
    cells = np.searchsorted(labels, y_true) * k + np.searchsorted(labels, y_pred)
    return labels, np.bincount(cells, minlength=k * k).reshape(k, k)


def from_confusion(
    labels: tuple[float, ...], confusion: npt.NDArray[np.int64]
) -> ClassificationFigures:
    count = int(confusion.sum())
    if count == 0:
        return NO_CLASSIFICATION
    hits = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    # 2PR / (P + R) without the 0/0 of a label that is never hit; predicted + actual > 0.
    f1 = 2 * hits / (predicted + actual)
    return ClassificationFigures(
        count=count,
        accuracy=float(hits.sum() / count),
        precision=float(precision.mean()),
        recall=float(recall.mean()),
        f1=float(f1.mean()),
        labels=labels,
        confusion=tuple(tuple(int(x) for x in row) for row in confusion),
    )
