"""`mlmon train`: fit a model on a dataset and save it in a safe format.

- `linear` (the default): a linear regressor in mlmon's JSON, the shipped diabetes model's form.
- `skops` / `onnx`: a scikit-learn pipeline (model/pipeline.py) over named, typed columns,
  categorical and missing values included. It is a classifier when the target holds strings,
  or whole numbers with at most MAX_INTEGER_CLASSES distinct values; a regressor otherwise,
  unless `task` says which (ratings 1-5 to regress on, or many whole-number classes).

Both take the features the stream sends: every column but the target and the id column, or
those `features` and `exclude` choose (columns_data.select_features).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mlmon.errors import ConfigError, DatasetError
from mlmon.model.columns_data import select_features, text_nulls
from mlmon.model.dataset import DEFAULT_ID_COLUMN, load_dataset
from mlmon.model.frame import columns_from_matrix, is_categorical, to_dataframe
from mlmon.model.pipeline import MISSING_CATEGORY, Estimator, ModelFormat, build_pipeline
from mlmon.model.predictors import LinearModel

MAX_INTEGER_CLASSES = 10
SUFFIXES = {"linear": ".json", "skops": ".skops", "onnx": ".onnx"}
Task = Literal["auto", "classification", "regression"]


def train_linear(
    output: Path,
    dataset: Path | None = None,
    target: str | None = None,
    name: str | None = None,
    id_column: str = DEFAULT_ID_COLUMN,
    features: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> LinearModel:
    from sklearn.linear_model import LinearRegression

    data = load_dataset(dataset, target, id_column, features, exclude)
    fitted = LinearRegression().fit(data.features, data.target)
    model = LinearModel(
        name or f"{data.name.removesuffix('.csv')}-linear",
        "1",
        np.asarray(fitted.coef_, dtype=np.float64),
        float(fitted.intercept_),
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(model.to_json(data.feature_names), encoding="utf-8")
    return model


@dataclass(frozen=True)
class Trained:
    """What `train_pipeline` wrote."""

    output: Path
    task: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    rows: int
    untrusted: tuple[str, ...]  # skops: the types MLMON_SKOPS_TRUSTED must name to load it
    unlabelled: int = 0  # rows left out: no target value


def train_pipeline(
    output: Path,
    model_format: ModelFormat,
    dataset: Path | None = None,
    target: str | None = None,
    id_column: str = DEFAULT_ID_COLUMN,
    features: Sequence[str] = (),
    exclude: Sequence[str] = (),
    estimator: Estimator = "boosting",
    task: Task = "auto",
) -> Trained:
    """Fit the pipeline (`estimator`: gradient boosting, or a linear model) on `dataset`
    (diabetes if None) and write it to `output`; a classifier or a regressor as `task` says,
    or as the target looks ("auto", see the module)."""
    from mlmon.model.pipeline import write_onnx, write_skops

    if output.suffix.lower() != SUFFIXES[model_format]:
        msg = f"--output {output}: a {model_format} model needs a {SUFFIXES[model_format]} name"
        raise ConfigError(msg)
    columns, y, unlabelled = _read(dataset, target, id_column, tuple(features), tuple(exclude))
    numeric = tuple(name for name, column in columns.items() if not is_categorical(column))
    categorical = tuple(name for name, column in columns.items() if is_categorical(column))
    classifier = _is_classification(y) if task == "auto" else _task_fits(task, y, target)
    if classifier and not is_categorical(y):
        y = y.astype(np.int64)  # whole-number classes stay whole numbers, not 1.0
    frame = to_dataframe(columns, list(columns))
    if model_format == "onnx" and categorical:
        frame[list(categorical)] = frame[list(categorical)].fillna(MISSING_CATEGORY)
    pipeline = build_pipeline(numeric, categorical, classifier, model_format, estimator)
    pipeline.fit(frame, y)
    output.parent.mkdir(parents=True, exist_ok=True)
    untrusted: list[str] = []
    if model_format == "onnx":
        write_onnx(pipeline, output, numeric, categorical)
    else:
        untrusted = write_skops(pipeline, output)
    kind = "classification" if classifier else "regression"
    return Trained(output, kind, numeric, categorical, len(y), tuple(untrusted), unlabelled)


def _read(
    dataset: Path | None,
    target: str | None,
    id_column: str,
    features: tuple[str, ...],
    exclude: tuple[str, ...],
) -> tuple[dict[str, Any], npt.NDArray[Any], int]:
    """Feature columns and the target, rows without a target left out (and counted)."""
    if dataset is None:
        data = load_dataset(features=features, exclude=exclude)
        return columns_from_matrix(data.features, data.feature_names), data.target, 0
    if target is None:
        msg = f"--dataset {dataset} needs --target naming its target column"
        raise DatasetError(msg)
    columns = _read_table(dataset, id_column)
    if target not in columns:
        msg = f"dataset {dataset} has no column {target!r}; it has {', '.join(columns)}"
        raise DatasetError(msg)
    has_ids = id_column in columns and id_column != target
    chosen = select_features(
        dataset.name, list(columns), target, id_column if has_ids else None, features, exclude
    )
    y = columns[target]
    if not is_categorical(y) and bool(np.isinf(y).any()):
        msg = (
            f"dataset {dataset}: {target!r} is infinite in {int(np.isinf(y).sum())} rows; "
            "a target must be a finite number or a label"
        )
        raise DatasetError(msg)
    known = ~_missing(y)
    if not known.any():
        msg = f"dataset {dataset}: needs feature columns and rows with a {target!r} value"
        raise DatasetError(msg)
    unlabelled = int(np.count_nonzero(~known))
    return {name: columns[name][known] for name in chosen}, y[known], unlabelled


def _read_table(path: Path, id_column: str) -> dict[str, npt.NDArray[Any]]:
    """A CSV or Parquet file as columns: numbers as float64 (NaN for missing), strings as
    object arrays (None for missing, a CSV's empty or "NA" cells included, as the stream
    reads them)."""
    import pyarrow as pa
    import pyarrow.csv
    import pyarrow.parquet

    if not path.is_file():
        msg = f"dataset file {path} does not exist"
        raise DatasetError(msg)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            table = pyarrow.parquet.read_table(path)
        elif path.suffix.lower() == ".csv":
            table = text_nulls(pyarrow.csv.read_csv(path), keep=id_column)
        else:
            msg = f"dataset {path}: unsupported format {path.suffix!r} (use .csv or .parquet)"
            raise DatasetError(msg)
    except (pa.ArrowException, OSError) as error:
        msg = f"dataset {path} could not be read: {error}"
        raise DatasetError(msg) from None
    columns: dict[str, npt.NDArray[Any]] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_dictionary(kind):
            column, kind = column.cast(kind.value_type), kind.value_type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            columns[name] = np.array(column.cast(pa.float64()).to_pylist(), dtype=np.float64)
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind):
            columns[name] = np.array(column.to_pylist(), dtype=object)
        else:
            msg = f"dataset {path}: column {name!r} is {kind}; mlmon trains on numbers and strings"
            raise DatasetError(msg)
    return columns


def _missing(column: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    if is_categorical(column):
        return np.array([value is None for value in column], dtype=bool)
    return np.asarray(np.isnan(column), dtype=bool)


def _task_fits(task: Task, y: npt.NDArray[Any], target: str | None) -> bool:
    """Whether to fit a classifier, as `task` asks; a target that cannot serve it is refused."""
    name = repr(target) if target else "the target"
    if task == "regression":
        if is_categorical(y):
            msg = f"--task regression: {name} holds text; a regressor needs numbers"
            raise ConfigError(msg)
        return False
    if not is_categorical(y) and not bool(np.all(y == np.round(y))):
        msg = f"--task classification: {name} holds fractions; classes are text or whole numbers"
        raise ConfigError(msg)
    return True


def _is_classification(y: npt.NDArray[Any]) -> bool:
    if is_categorical(y):
        return True
    whole = bool(np.all(y == np.round(y)))
    return whole and len(np.unique(y)) <= MAX_INTEGER_CLASSES
