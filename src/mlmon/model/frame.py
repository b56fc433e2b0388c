"""Named, typed feature columns: what every predictor takes, and what it gives back.

`Columns` maps a feature name to one column of equal-length rows: a numeric column is float64
(NaN = missing), a categorical column is an object array of `str` or `None` (missing). Models
that need a pandas DataFrame (scikit-learn pipelines selecting columns by name) get one here,
with missing categories as NaN, as pandas reads them from a CSV.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.errors import MlmonError

if TYPE_CHECKING:
    import pandas as pd

Columns = Mapping[str, npt.NDArray[Any]]
Task = Literal["regression", "classification"]
Label = str | int | float


class ColumnsError(MlmonError, ValueError):
    """Feature columns that do not fit the model: missing, of the wrong type or length."""


@dataclass(frozen=True)
class Prediction:
    """One model call's output: `values` are float64 for regression and an object array of
    class labels for classification; `scores` the class probabilities (rows x classes, in the
    order of the model's `classes`), or None when the model gives none."""

    values: npt.NDArray[Any]
    scores: Floats | None = None


def is_categorical(column: npt.NDArray[Any]) -> bool:
    return column.dtype == object


def columns_from_matrix(matrix: Floats, names: Sequence[str]) -> dict[str, Floats]:
    """A float matrix (rows x features) as numeric columns under `names`."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        msg = f"a matrix of shape {matrix.shape} does not have {len(names)} feature columns"
        raise ColumnsError(msg)
    return {name: matrix[:, i] for i, name in enumerate(names)}


def n_rows(columns: Columns) -> int:
    """The rows the columns share (a ColumnsError if their lengths differ)."""
    lengths = {name: len(column) for name, column in columns.items()}
    if len(set(lengths.values())) > 1:
        msg = f"feature columns differ in length: {lengths}"
        raise ColumnsError(msg)
    return next(iter(lengths.values()), 0)


def require(columns: Columns, names: Sequence[str]) -> None:
    """A ColumnsError naming every feature the model needs that `columns` lacks."""
    missing = [name for name in names if name not in columns]
    if missing:
        msg = f"missing feature column(s) {', '.join(map(repr, missing))} the model needs"
        raise ColumnsError(msg)


def numeric(columns: Columns, name: str) -> Floats:
    """Column `name` as float64, or a ColumnsError if it holds categories."""
    column = columns[name]
    if is_categorical(column):
        msg = f"feature {name!r} holds categories (strings); the model takes numbers there"
        raise ColumnsError(msg)
    return np.asarray(column, dtype=np.float64)


def strings(columns: Columns, name: str, missing: str = "") -> npt.NDArray[np.object_]:
    """Column `name` as an object array of str, `None` replaced by `missing` (string tensors,
    as in ONNX, cannot hold a missing value; skl2onnx's imputers use a sentinel string)."""
    column = columns[name]
    if not is_categorical(column):
        msg = f"feature {name!r} holds numbers; the model takes categories (strings) there"
        raise ColumnsError(msg)
    plain = column.tolist()
    if not plain.count(None) and set(map(type, plain)) <= {str}:  # the usual column: scans in C
        return column.copy()
    return np.array([missing if value is None else str(value) for value in column], dtype=object)


def numeric_matrix(columns: Columns, names: Sequence[str] | None = None) -> Floats:
    """The columns `names` (default: all, in order) stacked as a float64 matrix."""
    chosen = list(columns) if names is None else list(names)
    require(columns, chosen)
    n_rows(columns)
    if not chosen:
        return np.empty((0, 0), dtype=np.float64)
    return np.column_stack([numeric(columns, name) for name in chosen])


def to_dataframe(columns: Columns, names: Sequence[str]) -> pd.DataFrame:
    """The columns `names`, in that order, as a DataFrame for a scikit-learn pipeline:
    numbers as float64, categories as strings with missing values as NaN."""
    import pandas as pd

    require(columns, names)
    n_rows(columns)
    data: dict[str, Any] = {}
    for name in names:
        column = columns[name]
        if is_categorical(column):
            data[name] = pd.array(
                [np.nan if value is None else str(value) for value in column], dtype="str"
            )
        else:
            data[name] = np.asarray(column, dtype=np.float64)
    return pd.DataFrame(data, columns=list(names))


def labels(values: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Class labels as an object array of Python str/int/float (not numpy scalars)."""
    array = np.asarray(values).reshape(-1)
    plain: list[Any] = array.tolist()  # numpy's str, int and float come out as Python's
    if array.dtype.kind in "Uiuf" or (
        array.dtype.kind == "O" and set(map(type, plain)) <= {str, int, float}
    ):  # the usual labels: one pass in C rather than `_plain` per value
        out = np.empty(len(plain), dtype=object)
        out[:] = plain
        return out
    return np.array([_plain(value) for value in array], dtype=object)


def class_tuple(values: npt.ArrayLike) -> tuple[Label, ...]:
    return tuple(_plain(value) for value in np.asarray(values).reshape(-1))


def _plain(value: Any) -> Label:
    item = value.item() if isinstance(value, np.generic) else value
    if isinstance(item, bytes):
        return item.decode("utf-8")
    if isinstance(item, bool):
        return int(item)
    if isinstance(item, str | int | float):
        return item
    return str(item)
