"""A dataset's named columns: which columns are features, how Arrow columns become mlmon's
columns, and rows as named records.

Columns follow `frame.py`'s convention: a numeric column is float64 with NaN for a missing
value, a categorical one an object array of `str` with `None` for a missing value. A boolean
feature is numeric (0/1, as `mlmon train` reads it); a boolean target is categorical, its
labels "0" and "1" (as `frame.labels` gives a classifier's boolean classes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlmon.arrays import Floats
from mlmon.errors import DatasetError
from mlmon.model.frame import is_categorical

if TYPE_CHECKING:
    from mlmon.model.dataset import Dataset

NAMES_SHOWN = 12  # column names listed in an error before "..."
Kind = Literal["numeric", "categorical", "other"]
Body = dict[str, float | str | None]


def shown(columns: Sequence[str]) -> str:
    """Column names for a message, the first NAMES_SHOWN of them."""
    listed = ", ".join(columns[:NAMES_SHOWN])
    return listed + (f", ... ({len(columns)} in all)" if len(columns) > NAMES_SHOWN else "")


def select_features(
    name: str,
    columns: Sequence[str],
    target: str,
    id_column: str | None,
    features: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> tuple[str, ...]:
    """The feature columns: `features` in the order given (default: every column but the
    target and the id column, in file order), less `exclude`. A name that is not a column,
    or that names the target or the id column in `features`, is an error."""
    for flag, given in (("--features", features), ("--exclude", exclude)):
        unknown = [column for column in given if column not in columns]
        if unknown:
            msg = (
                f"dataset {name} has no column {', '.join(map(repr, unknown))} ({flag}); "
                f"its columns: {shown(columns)}"
            )
            raise DatasetError(msg)
    for special, what in ((target, "the target (--target)"), (id_column, "the id column")):
        if special is not None and special in features:
            msg = f"--features names {special!r}, {what} of dataset {name}: it is not a feature"
            raise DatasetError(msg)
    chosen = list(features) or [c for c in columns if c not in (target, id_column)]
    chosen = [column for column in chosen if column not in set(exclude)]
    if not chosen:
        msg = f"dataset {name} has no feature columns besides {target!r}"
        if features or exclude:
            msg += " once --features and --exclude are applied"
        raise DatasetError(msg)
    return tuple(chosen)


def check_column_kinds(
    name: str, columns: Mapping[str, npt.NDArray[Any]], categorical: Mapping[str, bool],
    model: str,
) -> None:  # fmt: skip
    """Refuse a dataset whose column holds text where the model takes numbers (a typo in a
    CSV makes the whole column text), or numbers where it takes categories: every record
    would be refused at run time. `categorical`: the kinds the model states (ONNX inputs)."""
    for column, wants_text in categorical.items():
        values = columns.get(column)
        if values is None or is_categorical(values) == wants_text:
            continue
        if wants_text:
            if bool(np.isnan(values).all()):
                continue  # nothing but missing values: no kind to disagree with
            msg = (
                f"dataset {name}: column {column!r} holds numbers where the model {model} "
                "takes categories (strings); store it as text (Parquet), or fit the model on "
                "this file (`mlmon train`)"
            )
            raise DatasetError(msg)
        cells = values.tolist()
        bad = [(row, value) for row, value in enumerate(cells) if not _number(value)]
        if not bad:
            if cells.count(None) == len(cells):
                continue  # nothing but missing values: no kind to disagree with
            msg = (
                f"dataset {name}: column {column!r} holds numbers written as text where the "
                f"model {model} takes numbers; store them as numbers"
            )
            raise DatasetError(msg)
        # Rows without a target are not streamed, so a row's place among those streamed
        # is what can be told here, not its line in the file.
        examples = ", ".join(f"{value!r} (streamed row {row + 1})" for row, value in bad[:3])
        msg = (
            f"dataset {name}: column {column!r} holds text where the model {model} takes "
            f"numbers: {len(bad)} of {len(values)} values are not numbers, e.g. {examples}; "
            "correct those cells, or leave their rows out of the file"
        )
        raise DatasetError(msg)


def _number(value: Any) -> bool:
    """Whether a text cell reads as a number; a missing value counts as one (the model's
    imputer fills it)."""
    if value is None:
        return True
    try:
        float(value)
    except ValueError:
        return False
    return True


def id_column_values(name: str, column: str, values: pa.ChunkedArray) -> npt.NDArray[np.str_]:
    """The id column as text; every row needs one, and no two the same one."""
    if values.null_count:
        msg = f"dataset {name}: id column {column!r} has {values.null_count} empty values"
        raise DatasetError(msg)
    ids = np.asarray(pc.cast(values, pa.string()).to_numpy(zero_copy_only=False), dtype=np.str_)
    unique = np.unique(ids)
    if len(unique) != len(ids):
        msg = (
            f"dataset {name}: id column {column!r} has {len(ids) - len(unique)} repeated "
            "values; ids must name one row each (or pass --id-column naming another column)"
        )
        raise DatasetError(msg)
    return ids


def kind_of(values: pa.ChunkedArray) -> Kind:
    kind = values.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return "categorical"
    numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_null)
    if any(test(kind) for test in numeric) or pa.types.is_decimal(kind):
        return "numeric"
    return "other"


def text_nulls(table: pa.Table, keep: str) -> pa.Table:
    """A CSV's text columns with the cells pyarrow reads as missing in a number column ("",
    "NA", "NaN", "null"...) as missing too, as pandas reads them; the column `keep` (the ids)
    stays as written, since an id is never missing."""
    import pyarrow.csv

    nulls = pa.array(pyarrow.csv.ConvertOptions().null_values, type=pa.string())
    for index, (name, values) in enumerate(zip(table.column_names, table.columns, strict=True)):
        if name == keep or not pa.types.is_string(values.type):
            continue
        missing = pc.is_in(values, value_set=nulls)
        if pc.any(missing).as_py():
            table = table.set_column(index, name, pc.if_else(missing, None, values))
    return table


def numeric(name: str, column: str, values: pa.ChunkedArray) -> Floats:
    """The column as float64, a missing value as NaN; a column of text is an error."""
    try:
        floats = pc.cast(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        msg = f"dataset {name}: column {column!r} is not numeric"
        raise DatasetError(msg) from None
    return np.asarray(floats.to_numpy(zero_copy_only=False), dtype=np.float64)


def feature_column(name: str, column: str, values: pa.ChunkedArray) -> npt.NDArray[Any]:
    """A feature as mlmon's column: float64 (a value that is not finite is missing, as in the
    all-numeric path), or an object array of str and None."""
    kind = kind_of(values)
    if kind == "categorical":
        return _strings(values)
    if kind == "other":
        msg = (
            f"dataset {name}: column {column!r} holds {values.type}, neither numbers nor text: "
            f"leave it out with --exclude {column}"
        )
        raise DatasetError(msg)
    floats = numeric(name, column, values)
    return np.where(np.isfinite(floats), floats, np.nan)


def target_column(
    name: str, column: str, values: pa.ChunkedArray
) -> tuple[Floats, npt.NDArray[np.object_] | None]:
    """The target as numbers (NaN = missing) and, for text or booleans, its labels (None =
    missing; the numbers are then all NaN)."""
    if pa.types.is_boolean(values.type):
        return np.full(len(values), np.nan), _strings(
            pc.cast(pc.cast(values, pa.int8()), pa.string())
        )
    if kind_of(values) == "categorical":
        return np.full(len(values), np.nan), _strings(values)
    floats = numeric(name, column, values)
    return np.where(np.isfinite(floats), floats, np.nan), None


def _strings(values: pa.ChunkedArray) -> npt.NDArray[np.object_]:
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)


def missing(column: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Where a column of mlmon's (numeric or categorical) has no value."""
    if is_categorical(column):
        return np.array([value is None for value in column.tolist()], dtype=bool)
    return np.asarray(np.isnan(column), dtype=bool)


def record_bodies(dataset: Dataset, rows: npt.NDArray[np.intp]) -> list[Body]:
    """Rows `rows` as named records, `{"name": value}` in feature order: numbers as Python
    floats, categories as str, a missing value as None. Built column by column (one
    `.tolist()` each) and zipped: a Python object per cell is the least this can cost."""
    names = list(dataset.columns)
    lists = [_values(column[rows]) for column in dataset.columns.values()]
    return [dict(zip(names, values, strict=True)) for values in zip(*lists, strict=True)]


def _values(taken: npt.NDArray[Any]) -> list[Any]:
    values: list[Any] = taken.tolist()
    if not is_categorical(taken):
        for index in np.flatnonzero(np.isnan(taken)).tolist():
            values[index] = None  # JSON has no NaN
    return values


def labels(dataset: Dataset, rows: npt.NDArray[np.intp]) -> list[str] | Floats:
    """The true values of `rows`: labels (str) for a categorical target, else float64."""
    if dataset.target_labels is not None:
        found: list[str] = dataset.target_labels[rows].tolist()
        return found
    return dataset.target[rows]
