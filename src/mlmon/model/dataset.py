"""Datasets that the features service streams: diabetes by default, or the user's own file.

A file's columns are its target (`--target`), an optional record id column (`--id-column`,
`id` by default: it names the records, it is not a feature) and the features. CSVs are read
with pyarrow's multi-threaded reader, not the csv module: a Python object per cell made a
300,000-row file take seconds (benchmarks/bench_dataset_load.py).
"""

from __future__ import annotations

import functools
import gzip
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlmon.arrays import Floats
from mlmon.errors import DatasetError

log = logging.getLogger(__name__)

DIABETES = "diabetes.csv.gz"
DEFAULT_ID_COLUMN = "id"
NAMES_SHOWN = 12  # column names listed in an error before "..."


@dataclass(frozen=True)
class Dataset:
    name: str
    features: Floats  # (rows, columns)
    target: Floats  # (rows,)
    feature_names: tuple[str, ...]
    ids: npt.NDArray[np.str_] | None = None  # the id column's values, if the file has one
    dropped: int = 0  # rows left out for a missing value

    def __repr__(self) -> str:
        rows, columns = self.features.shape
        return f"Dataset({self.name!r}, rows={rows}, features={columns})"

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
    path: Path | None = None, target: str | None = None, id_column: str = DEFAULT_ID_COLUMN
) -> Dataset:
    """Diabetes (shipped inside scikit-learn, no download) or a CSV/Parquet file."""
    if path is None:
        return _diabetes()
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
    return _load_file(path.resolve(), (stat.st_mtime_ns, stat.st_size), target, id_column)


@functools.lru_cache(maxsize=4)
def _load_file(path: Path, _version: tuple[int, int], target: str, id_column: str) -> Dataset:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        table = _read_csv(path)
    elif suffix in (".parquet", ".pq"):
        table = _read_parquet(path)
    else:
        msg = f"dataset {path}: unsupported format {suffix!r} (use .csv or .parquet)"
        raise DatasetError(msg)
    return _from_table(path.name, table, target, id_column)


def _diabetes() -> Dataset:
    """scikit-learn's diabetes set (scaled, as `load_diabetes()` gives it), shipped in the
    package: importing scikit-learn just to read 442 rows costs seconds at every start."""
    path = resources.files("mlmon") / "data" / DIABETES
    with resources.as_file(path) as local, gzip.open(local, "rt", encoding="utf-8") as handle:
        names = handle.readline().strip().split(",")
        table = np.loadtxt(handle, delimiter=",", dtype=np.float64, ndmin=2)
    return Dataset("diabetes", table[:, :-1], table[:, -1], tuple(names[:-1]))


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


def _from_table(name: str, table: pa.Table, target: str, id_column: str) -> Dataset:
    columns = table.column_names
    if target not in columns:
        msg = f"dataset {name} has no target column {target!r} (columns: {_names(columns)})"
        raise DatasetError(msg)
    has_ids = id_column in columns and id_column != target
    feature_names = tuple(c for c in columns if c != target and not (has_ids and c == id_column))
    if not feature_names:
        msg = f"dataset {name} has no feature columns besides {target!r}"
        raise DatasetError(msg)
    if table.num_rows == 0:
        msg = f"dataset {name} has no rows"
        raise DatasetError(msg)
    y = _numeric(name, target, table.column(target))
    features = np.column_stack([_numeric(name, c, table.column(c)) for c in feature_names])
    ids = _ids(name, id_column, table.column(id_column)) if has_ids else None
    usable = np.isfinite(features).all(axis=1) & np.isfinite(y)
    dropped = int(len(y) - np.count_nonzero(usable))
    if dropped == len(y):
        msg = f"dataset {name} has no row without missing values"
        raise DatasetError(msg)
    if dropped:
        gappy = np.flatnonzero(~np.isfinite(features).all(axis=0))
        gaps = [feature_names[i] for i in gappy.tolist()]
        gaps += [] if np.isfinite(y).all() else [target]
        log.warning(
            "dataset %s: %d of %d rows have a missing value (in %s); they are left out of the "
            "stream",
            name, dropped, len(y), _names(gaps),
        )  # fmt: skip
    return Dataset(
        name,
        features[usable],
        y[usable],
        feature_names,
        None if ids is None else ids[usable],
        dropped,
    )


def _numeric(name: str, column: str, values: pa.ChunkedArray) -> Floats:
    """The column as float64, a missing value as NaN; a column of text is an error."""
    try:
        floats = pc.cast(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        msg = f"dataset {name}: column {column!r} is not numeric"
        raise DatasetError(msg) from None
    return np.asarray(floats.to_numpy(zero_copy_only=False), dtype=np.float64)


def _ids(name: str, column: str, values: pa.ChunkedArray) -> npt.NDArray[np.str_]:
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


def _names(columns: list[str] | tuple[str, ...]) -> str:
    shown = ", ".join(columns[:NAMES_SHOWN])
    return shown + (f", ... ({len(columns)} in all)" if len(columns) > NAMES_SHOWN else "")


def check_model_width(data: Dataset, n_features: int, model: str) -> None:
    """Refuse a dataset whose feature columns do not match the model's, before anything runs:
    each record would otherwise be dead-lettered, one error at a time."""
    columns = data.features.shape[1]
    if columns == n_features:
        return
    msg = (
        f"dataset {data.name} has {columns} feature columns ({_names(data.feature_names)}), "
        f"the model {model} expects {n_features}: stream the dataset the model was fitted on "
        "(every column but --target and --id-column is a feature), or fit a model on this one "
        f"(`mlmon train --dataset {data.name} --target COLUMN`)"
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
