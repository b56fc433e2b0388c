"""Datasets that the features service streams: diabetes by default, or the user's own file.

A file's columns are its target (`--target`), an optional record id column (`--id-column`,
`id` by default: it names the records, it is not a feature) and the features (all the others,
or those `--features` and `--exclude` choose: columns_data.py). CSVs are read with pyarrow's
multi-threaded reader, not the csv module: a Python object per cell made a 300,000-row file
take seconds (benchmarks/bench_dataset_load.py).

A dataset has one of two shapes:
- All numeric (numeric features and target): the float matrix `features`, streamed as
  vectors; a row with a missing value is left out, since a model that takes vectors of numbers
  cannot take a gap.
- Named (a categorical feature or target): `columns` by name, streamed as named records
  (columns_data.record_bodies); a missing feature is data, kept as NaN or None, and only rows
  without a target are left out.
"""

from __future__ import annotations

import functools
import gzip
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlmon.arrays import Floats
from mlmon.errors import DatasetError
from mlmon.model.columns_data import (
    feature_column,
    id_column_values,
    kind_of,
    missing,
    numeric,
    select_features,
    shown,
    target_column,
    text_nulls,
)
from mlmon.model.frame import columns_from_matrix, is_categorical

if TYPE_CHECKING:
    from mlmon.settings import Settings

log = logging.getLogger(__name__)

DIABETES = "diabetes.csv.gz"
DEFAULT_ID_COLUMN = "id"


@dataclass(frozen=True)
class Dataset:
    name: str
    # (rows, columns). Named, a numeric column holds NaN where a value is missing and a
    # categorical column is all NaN: read `columns` there.
    features: Floats
    target: Floats  # (rows,); all NaN when the target is categorical (see target_labels)
    feature_names: tuple[str, ...]
    ids: npt.NDArray[np.str_] | None = None  # the id column's values, if the file has one
    dropped: int = 0  # rows left out for a missing value (named: a missing target)
    # The features by name, in feature order (frame.py's Columns): the matrix's columns
    # unless given.
    columns: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    target_labels: npt.NDArray[np.object_] | None = None  # a categorical target's labels
    # Columns sent as each record's tags (segments), as text (None where empty); not features.
    tags: dict[str, npt.NDArray[np.object_]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.columns:
            # Views of the matrix's columns, no copy; set as dataclass sets a frozen field.
            columns = columns_from_matrix(self.features, self.feature_names)
            object.__setattr__(self, "columns", columns)

    def __repr__(self) -> str:
        rows, columns = self.features.shape
        return f"Dataset({self.name!r}, rows={rows}, features={columns})"

    @functools.cached_property
    def named(self) -> bool:
        """Whether the stream must send named records: a feature is categorical or has a
        missing value, or the target is categorical."""
        if self.target_labels is not None or self.tags:
            return True
        return any(
            is_categorical(column) or bool(missing(column).any())
            for column in self.columns.values()
        )

    def record_ids(self, run: str, offset: int, rows: npt.NDArray[np.intp]) -> list[str]:
        """Record ids for `rows`, the ones taken after `offset` others: `<run>-<id>` on the
        first pass through the file, `<run>.<pass>-<id>` on later ones, so a row sent again
        is a new record, not a duplicate of the first (and runs never share ids)."""
        assert self.ids is not None
        passes = (offset + np.arange(len(rows))) // len(self.target)
        return [
            f"{run}-{name}" if turn == 0 else f"{run}.{turn}-{name}"
            for turn, name in zip(passes.tolist(), self.ids[rows].tolist(), strict=True)
        ]


def load_dataset(
    path: Path | None = None,
    target: str | None = None,
    id_column: str = DEFAULT_ID_COLUMN,
    features: Sequence[str] = (),
    exclude: Sequence[str] = (),
    tags: Sequence[str] = (),
) -> Dataset:
    """Diabetes (shipped inside scikit-learn, no download) or a CSV/Parquet file, its
    features chosen by `features` and `exclude` (columns_data.select_features); the `tags`
    columns go with each record as its tags, not as features."""
    if path is None:
        if tags:
            msg = f"--tag-columns {','.join(tags)}: the diabetes set has no such columns"
            raise DatasetError(msg)
        return _diabetes(tuple(features), tuple(exclude))
    if target is None:
        msg = (
            f"--dataset {path} needs --target naming its target column (MLMON_TARGET): "
            "the column of true values the model's predictions are compared with"
        )
        raise DatasetError(msg)
    if path.is_dir():
        msg = f"dataset {path} is a directory: give the CSV or Parquet file inside it"
        raise DatasetError(msg)
    if not path.is_file():
        msg = f"dataset file {path} does not exist"
        raise DatasetError(msg)
    stat = path.stat()
    # Cached: `mlmon up` checks the file before anything starts, then the features service
    # and the drift reference read the same one.
    version = (stat.st_mtime_ns, stat.st_size)
    return _load_file(
        path.resolve(), version, target, id_column, tuple(features), tuple(exclude), tuple(tags)
    )


def dataset_of(settings: Settings, path: Path | None = None) -> Dataset:
    """The dataset the settings name, or the one at `path` (a drift reference) read with the
    same target, id column and choice of features."""
    return load_dataset(
        path or settings.dataset,
        settings.target,
        settings.id_column,
        settings.feature_columns,
        settings.excluded_columns,
        settings.tag_column_names,
    )


@functools.lru_cache(maxsize=4)
def _load_file(
    path: Path,
    _version: tuple[int, int],
    target: str,
    id_column: str,
    features: tuple[str, ...],
    exclude: tuple[str, ...],
    tags: tuple[str, ...] = (),
) -> Dataset:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        table = text_nulls(_read_csv(path), keep=id_column)
    elif suffix in (".parquet", ".pq"):
        table = _read_parquet(path)
    else:
        msg = f"dataset {path}: unsupported format {suffix!r} (use .csv or .parquet)"
        raise DatasetError(msg)
    return _from_table(path.name, table, target, id_column, features, exclude, tags)


def _diabetes(features: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> Dataset:
    """scikit-learn's diabetes set (scaled, as `load_diabetes()` gives it), shipped in the
    package: importing scikit-learn just to read 442 rows costs seconds at every start."""
    path = resources.files("mlmon") / "data" / DIABETES
    with resources.as_file(path) as local, gzip.open(local, "rt", encoding="utf-8") as handle:
        names = handle.readline().strip().split(",")
        table = np.loadtxt(handle, delimiter=",", dtype=np.float64, ndmin=2)
    if not features and not exclude:
        return Dataset("diabetes", table[:, :-1], table[:, -1], tuple(names[:-1]))
    chosen = select_features("diabetes", names, names[-1], None, features, exclude)
    picked = table[:, [names.index(name) for name in chosen]]
    return Dataset("diabetes", picked, table[:, -1], chosen)


def _read_csv(path: Path) -> pa.Table:
    import pyarrow.csv

    try:
        return pyarrow.csv.read_csv(path)
    except pa.ArrowInvalid as error:
        reason = str(error).splitlines()[0]
        if "Empty CSV file" in reason:
            reason = "it has no header row"
        msg = f"dataset {path} could not be read as CSV: {reason}"
        raise DatasetError(msg) from None


def _read_parquet(path: Path) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        msg = f"dataset {path} could not be read as Parquet: {error}"
        raise DatasetError(msg) from None


def _from_table(
    name: str,
    table: pa.Table,
    target: str,
    id_column: str,
    features: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
) -> Dataset:
    columns = table.column_names
    unknown = [column for column in tags if column not in columns]
    if unknown:
        msg = f"dataset {name} has no column {', '.join(map(repr, unknown))} (--tag-columns)"
        raise DatasetError(msg + f"; its columns: {shown(columns)}")
    exclude = (*exclude, *(column for column in tags if column not in exclude))
    if target not in columns:
        msg = f"dataset {name} has no target column {target!r} (columns: {shown(columns)})"
        raise DatasetError(msg)
    has_ids = id_column in columns and id_column != target
    feature_names = select_features(
        name, columns, target, id_column if has_ids else None, features, exclude
    )
    if table.num_rows == 0:
        msg = f"dataset {name} has no rows"
        raise DatasetError(msg)
    ids = id_column_values(name, id_column, table.column(id_column)) if has_ids else None
    texts = {column: tag_texts(table.column(column)) for column in tags}
    kinds = {kind_of(table.column(column)) for column in (*feature_names, target)}
    if kinds == {"numeric"} and not pa.types.is_boolean(table.column(target).type):
        return _numeric_dataset(name, table, target, feature_names, ids, texts)
    return _named_dataset(name, table, target, feature_names, ids, texts)


def tag_texts(values: pa.ChunkedArray) -> npt.NDArray[np.object_]:
    """A tag column as text, None where empty."""
    texts = pc.cast(values, pa.string()).to_pylist()
    return np.array([text if text else None for text in texts], dtype=object)


def _numeric_dataset(
    name: str,
    table: pa.Table,
    target: str,
    feature_names: tuple[str, ...],
    ids: npt.NDArray[np.str_] | None,
    tags: dict[str, npt.NDArray[np.object_]],
) -> Dataset:
    """All numeric: the float matrix, rows with any missing value left out (and their tags)."""
    y = numeric(name, target, table.column(target))
    features = np.column_stack([numeric(name, c, table.column(c)) for c in feature_names])
    usable = np.isfinite(features).all(axis=1) & np.isfinite(y)
    dropped = int(len(y) - np.count_nonzero(usable))
    if dropped == len(y):
        msg = f"dataset {name} has no row without missing values"
        raise DatasetError(msg)
    if dropped:
        gappy = np.flatnonzero(~np.isfinite(features).all(axis=0))
        gaps = [feature_names[i] for i in gappy.tolist()]
        gaps += [] if np.isfinite(y).all() else [target]
        _warn_left_out(name, dropped, len(y), gaps)
    return Dataset(
        name,
        features[usable],
        y[usable],
        feature_names,
        None if ids is None else ids[usable],
        dropped,
        tags={column: values[usable] for column, values in tags.items()},
    )


def _named_dataset(
    name: str,
    table: pa.Table,
    target: str,
    feature_names: tuple[str, ...],
    ids: npt.NDArray[np.str_] | None,
    tags: dict[str, npt.NDArray[np.object_]],
) -> Dataset:
    """A categorical feature or target: named columns, rows without a target left out (and
    their tags)."""
    y, target_labels = target_column(name, target, table.column(target))
    known = ~missing(y if target_labels is None else target_labels)
    rows = int(np.count_nonzero(known))
    if rows == 0:
        msg = f"dataset {name} has no row with a value in its target {target!r}"
        raise DatasetError(msg)
    if rows < len(y):
        _warn_left_out(name, len(y) - rows, len(y), [target])
    features = np.full((rows, len(feature_names)), np.nan)
    columns: dict[str, npt.NDArray[Any]] = {}
    for index, column in enumerate(feature_names):
        values = feature_column(name, column, table.column(column))[known]
        if is_categorical(values):
            columns[column] = values
        else:
            features[:, index] = values
            columns[column] = features[:, index]  # a view: the numbers are stored once
    return Dataset(
        name,
        features,
        y[known],
        feature_names,
        None if ids is None else ids[known],
        len(y) - rows,
        columns,
        None if target_labels is None else target_labels[known],
        {column: values[known] for column, values in tags.items()},
    )


def _warn_left_out(name: str, dropped: int, rows: int, gaps: list[str]) -> None:
    log.warning(
        "dataset %s: %d of %d rows have a missing value (in %s); they are left out of the "
        "stream",
        name, dropped, rows, shown(gaps),
    )  # fmt: skip


def check_model_width(data: Dataset, n_features: int, model: str) -> None:
    """Refuse a dataset whose feature columns do not match the model's, before anything runs:
    each record would otherwise be dead-lettered, one error at a time."""
    columns = data.features.shape[1]
    if columns == n_features:
        return
    msg = (
        f"dataset {data.name} has {columns} feature columns ({shown(data.feature_names)}), "
        f"the model {model} expects {n_features}: stream the dataset the model was fitted on "
        "(every column but --target and --id-column is a feature, unless --features or "
        "--exclude choose), or fit a model on this one "
        f"(`mlmon train --dataset {data.name} --target COLUMN`)"
    )
    raise DatasetError(msg)


def check_model_columns(
    data: Dataset, model_feature_names: Sequence[str] | None, n_features: int, model: str
) -> None:
    """Refuse a dataset lacking a column the model takes, naming those missing and those the
    model does not take; a model that names no features gets the width check. Vectors of
    numbers (a dataset that is not `named`) must also hold the model's columns in its order,
    since the model reads them by position."""
    if model_feature_names is None:
        check_model_width(data, n_features, model)
        return
    wanted = tuple(model_feature_names)
    lacking = [name for name in wanted if name not in data.columns]
    extra = [name for name in data.feature_names if name not in set(wanted)]
    if not lacking and (data.named or data.feature_names == wanted):
        if extra:
            log.warning(
                "dataset %s: the model %s does not take %s; they are sent all the same "
                "(leave them out with --exclude)",
                data.name, model, shown(extra),
            )  # fmt: skip
        return
    msg = (
        f"dataset {data.name} has {len(data.feature_names)} feature columns "
        f"({shown(data.feature_names)}), the model {model} expects {len(wanted)} "
        f"({shown(wanted)}): "
    )
    if lacking:
        msg += f"the dataset lacks {shown(lacking)}"
        msg += f"; the model does not take {shown(extra)}" if extra else ""
        msg += (
            ". Stream the dataset the model was fitted on, or fit a model on this one "
            f"(`mlmon train --dataset {data.name} --target COLUMN`)"
        )
    else:
        why = f"the model does not take {shown(extra)}" if extra else "in another order"
        msg += (
            f"{why}, and numbers are sent by position: choose the model's columns in its "
            f"order with --features {','.join(wanted)}"
        )
    raise DatasetError(msg)


class RowOrder:
    """Row indices forever, in file order or reshuffled on every pass, taken many at a time
    as an array (no Python object per row)."""

    def __init__(self, rows: int, order: str, seed: int | None) -> None:
        self._rows, self._order = rows, order
        self._rng = np.random.default_rng(seed)
        self._pass = np.empty(0, dtype=np.intp)
        self._next = 0

    def take(self, n: int) -> npt.NDArray[np.intp]:
        parts = [np.empty(0, dtype=np.intp)]
        while n > 0:
            if self._next == len(self._pass):
                self._pass = (
                    np.arange(self._rows)
                    if self._order == "sequential"
                    else self._rng.permutation(self._rows)
                )
                self._next = 0
            part = self._pass[self._next : self._next + n]
            self._next += len(part)
            n -= len(part)
            parts.append(part)
        return np.concatenate(parts) if len(parts) > 2 else parts[-1]
