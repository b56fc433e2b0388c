"""Per-class figures of a confusion matrix (precision, recall, F1, support; accuracy and macro
F1), and class labels as people read them: a text label's own text, a numeric class its number.

Labels arrive as float codes (`wire.labels`): a numeric class is its number, a text label a
code that `label_text` maps back in the process that read or coded it. Tables list classes in
`display_order`: numbers ascending, then texts alphabetically.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmon.wire.labels import label_text

Counts = npt.NDArray[np.int64]


def label_name(code: float) -> str:
    """A label as a person reads it: its text, or its number ("2" for the class 2.0)."""
    text = label_text(code)
    if text is not None:
        return text
    return str(int(code)) if float(code).is_integer() and abs(code) < 2**53 else repr(code)


def display_order(labels: Sequence[float]) -> list[int]:
    """Positions of `labels` in table order: numeric classes ascending, then text labels."""

    def key(i: int) -> tuple[int, float, str]:
        text = label_text(labels[i])
        return (0, labels[i], "") if text is None else (1, 0.0, text)

    return sorted(range(len(labels)), key=key)


@dataclass(frozen=True)
class ClassFigures:
    """Figures of one confusion matrix (rows: true label, columns: predicted label).

    A label never predicted has precision 0 and one never true recall 0 (scikit-learn's
    zero_division=0); macro figures are plain means over `labels`, every label seen as a true
    value or a prediction, as scikit-learn averages them."""

    count: int
    labels: tuple[float, ...]  # in display order
    confusion: Counts  # [i][j]: rows of label i predicted as label j
    precision: tuple[float, ...]  # per label
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    support: tuple[int, ...]  # rows whose true label it is
    unknown_class_rows: int | None  # rows of a true label never predicted nor scored

    @property
    def accuracy(self) -> float | None:
        return float(np.trace(self.confusion)) / self.count if self.count else None

    @property
    def macro_precision(self) -> float | None:
        return float(np.mean(self.precision)) if self.count else None

    @property
    def macro_recall(self) -> float | None:
        return float(np.mean(self.recall)) if self.count else None

    @property
    def macro_f1(self) -> float | None:
        return float(np.mean(self.f1)) if self.count else None

    def names(self) -> list[str]:
        return [label_name(label) for label in self.labels]

    def per_class(self) -> dict[str, dict[str, Any]]:
        """Label name -> its precision, recall, F1 and support, in display order."""
        rows = zip(self.names(), self.precision, self.recall, self.f1, self.support, strict=True)
        return {
            name: {"precision": p, "recall": r, "f1": f, "support": s} for name, p, r, f, s in rows
        }


def class_figures(
    labels: Sequence[float],
    confusion: Counts,
    score_classes: Collection[float] | None = None,
) -> ClassFigures:
    """The figures of `confusion` over `labels` (any order; the figures list them in display
    order). With `score_classes` (the classes a model gives scores for), a true label it never
    predicted and gives no score to is an unknown class, whose rows are counted (they count as
    wrong all the same); without, `unknown_class_rows` is None."""
    order = display_order(labels)
    ordered = tuple(float(labels[i]) for i in order)
    matrix = np.asarray(confusion, dtype=np.int64)[np.ix_(order, order)]
    hits = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    # 2PR / (P + R) without the 0/0 of a label never hit; predicted + actual > 0 for a label seen.
    seen = predicted + actual
    f1 = np.divide(2 * hits, seen, out=np.zeros_like(hits), where=seen > 0)
    unknown = None
    if score_classes is not None:
        known = set(score_classes)
        unknown = sum(
            int(actual[i])
            for i, label in enumerate(ordered)
            if predicted[i] == 0 and label not in known
        )
    return ClassFigures(
        count=int(matrix.sum()),
        labels=ordered,
        confusion=matrix,
        precision=tuple(float(x) for x in precision),
        recall=tuple(float(x) for x in recall),
        f1=tuple(float(x) for x in f1),
        support=tuple(int(x) for x in actual),
        unknown_class_rows=unknown,
    )
