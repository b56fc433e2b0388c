"""Named records as model input, and a model's output as records: pure, no I/O.

`columns_of` turns the named bodies of many records into the feature columns a predictor
takes (`frame.Columns`), refusing a record, with its reason, where it cannot be one of those
rows: a feature the model needs that it lacks, or a value of the wrong kind (a string where
the model takes numbers, or the reverse). `answers` turns the model's `Prediction` back into
one JSON-ready record body per row: a number, or a class label with its scores.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmon.model.frame import Label, Prediction

NamedValues = Mapping[str, float | str | None]


@dataclass
class ColumnKinds:
    """Per feature, whether it holds categories (True) or numbers (False): from the model
    where it says (ONNX input types), else learned from the first records it predicted."""

    categorical: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, predictor: Any) -> ColumnKinds:
        """The kinds a model states: an ONNX model with one typed input per column does
        (string inputs are categories); others are learned from the records."""
        inputs = getattr(predictor, "inputs", ()) if getattr(predictor, "per_column", False) else ()
        return cls({tensor.name: tensor.type == "tensor(string)" for tensor in inputs})

    def learn(self, columns: Mapping[str, npt.NDArray[Any]]) -> None:
        """Take the kinds of the columns a model just predicted; a column with nothing but
        missing values says nothing."""
        for name, column in columns.items():
            if name in self.categorical:
                continue
            if column.dtype == object:
                if any(value is not None for value in column):
                    self.categorical[name] = True
            elif not np.isnan(column).all():
                self.categorical[name] = False


def columns_of(
    bodies: Sequence[NamedValues], names: Sequence[str], kinds: ColumnKinds
) -> tuple[dict[str, npt.NDArray[Any]], list[int], dict[int, str]]:
    """The columns `names` of the usable bodies, the indices of those bodies, and the
    reasons for the others (by index). Features a body has beyond `names` are ignored."""
    bad: dict[int, str] = {}
    for index, body in enumerate(bodies):
        lacking = [name for name in names if name not in body]
        if lacking:
            shown = ", ".join(map(repr, lacking[:5])) + (" ..." if len(lacking) > 5 else "")
            bad[index] = f"lacks feature(s) {shown} the model takes (send null for missing)"
    for name in names:
        expected = kinds.categorical.get(name)
        if expected is None:  # not known yet: the batch's majority decides
            texts = sum(isinstance(b.get(name), str) for i, b in enumerate(bodies) if i not in bad)
            numbers = sum(
                isinstance(b.get(name), int | float) for i, b in enumerate(bodies) if i not in bad
            )
            if not texts and not numbers:
                continue  # all missing: numeric NaN below, the model decides
            expected = texts > numbers
        for index, body in enumerate(bodies):
            value = body.get(name)
            if index in bad or value is None or isinstance(value, str) == expected:
                continue
            takes = "categories (strings)" if expected else "numbers"
            bad[index] = f"feature {name!r} is {value!r}; the model takes {takes} there"
    usable = [index for index in range(len(bodies)) if index not in bad]
    columns: dict[str, npt.NDArray[Any]] = {}
    for name in names:
        values = [bodies[index].get(name) for index in usable]
        if kinds.categorical.get(name) or any(isinstance(v, str) for v in values):
            columns[name] = np.array(values, dtype=object)
        else:
            columns[name] = np.array(
                [math.nan if v is None else v for v in values], dtype=np.float64
            )
    return columns, usable, bad


def predict_either_way(
    predictor: Any, columns: dict[str, npt.NDArray[Any]], kinds: ColumnKinds
) -> tuple[Prediction, dict[str, npt.NDArray[Any]]]:
    """The model's prediction on `columns`, and the columns it took. A column with nothing
    but missing values, of a kind not known yet, is first read as numbers (NaN); if the model
    fails, as categories (None), which is what a model taking strings there needs. The first
    error is raised if neither reading works."""
    try:
        return predictor.predict_columns(columns), columns
    except Exception:
        unknown = [
            name
            for name, column in columns.items()
            if name not in kinds.categorical
            and column.dtype != object
            and bool(np.isnan(column).all())
        ]
        if not unknown:
            raise
        other = {
            **columns,
            **{name: np.full(len(columns[name]), None, dtype=object) for name in unknown},
        }
        with contextlib.suppress(Exception):  # failing this way too, the first error stands
            return predictor.predict_columns(other), other
        raise


def answers(
    prediction: Prediction, classes: Sequence[Label] | None
) -> list[tuple[float | str, dict[str, float] | None]]:
    """Per row, the prediction's body (a number, or a class label; numeric labels stay
    numbers) and its scores keyed by class label text (None without scores)."""
    values = prediction.values
    bodies: list[float | str] = (
        values.tolist() if values.dtype != object else [_label(value) for value in values]
    )
    scores = prediction.scores
    if scores is None or classes is None or scores.shape[1] != len(classes):
        return [(body, None) for body in bodies]
    names = score_keys(classes)
    rows: list[list[float]] = np.round(scores, 6).tolist()  # six decimals: the wire stays small
    return [
        (body, dict(zip(names, row, strict=True))) for body, row in zip(bodies, rows, strict=True)
    ]


def score_keys(classes: Sequence[Label]) -> list[str]:
    """The scores' keys: each class label's text (numbers in their shortest form)."""
    return [_key(label) for label in classes]


def _label(value: Any) -> float | str:
    """A class label as the wire carries it: a string, or a number (ints as floats)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return str(value)


def _key(label: Label) -> str:
    """A class label as a scores key: numbers in their shortest form (2, not 2.0)."""
    value = _label(label)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
