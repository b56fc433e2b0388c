"""Datasets that the features service streams: diabetes by default, or the user's own file."""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.errors import DatasetError

DIABETES = "diabetes.csv.gz"


@dataclass(frozen=True)
class Dataset:
    name: str
    features: Floats  # (rows, columns)
    target: Floats  # (rows,)
    feature_names: tuple[str, ...]

    def __repr__(self) -> str:
        rows, columns = self.features.shape
        return f"Dataset({self.name!r}, rows={rows}, features={columns})"


def load_dataset(path: Path | None = None, target: str | None = None) -> Dataset:
    """Diabetes (shipped inside scikit-learn, no download) or a CSV/Parquet file."""
    if path is None:
        return _diabetes()
    if target is None:
        msg = f"--dataset {path} needs --target naming its target column (MLMON_TARGET)"
        raise DatasetError(msg)
    if not path.is_file():
        msg = f"dataset file {path} does not exist"
        raise DatasetError(msg)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        columns = _read_csv(path)
    elif suffix in (".parquet", ".pq"):
        columns = _read_parquet(path)
    else:
        msg = f"dataset {path}: unsupported format {suffix!r} (use .csv or .parquet)"
        raise DatasetError(msg)
    return _from_columns(path.name, columns, target)


def _diabetes() -> Dataset:
    """scikit-learn's diabetes set (scaled, as `load_diabetes()` gives it), shipped in the
    package: importing scikit-learn just to read 442 rows costs seconds at every start."""
    path = resources.files("mlmon") / "data" / DIABETES
    with resources.as_file(path) as local, gzip.open(local, "rt", encoding="utf-8") as handle:
        names = handle.readline().strip().split(",")
        table = np.loadtxt(handle, delimiter=",", dtype=np.float64, ndmin=2)
    return Dataset("diabetes", table[:, :-1], table[:, -1], tuple(names[:-1]))


def _read_csv(path: Path) -> dict[str, list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            msg = f"dataset {path} has no header row"
            raise DatasetError(msg)
        columns: dict[str, list[str]] = {name: [] for name in reader.fieldnames}
        for row in reader:
            for name in reader.fieldnames:
                columns[name].append(row[name])
    return columns


def _read_parquet(path: Path) -> dict[str, list[str]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        msg = "reading Parquet needs pyarrow: pip install 'mlmon[parquet]'"
        raise DatasetError(msg) from None
    table = pq.read_table(path)
    return {name: table.column(name).to_pylist() for name in table.column_names}


def _from_columns(name: str, columns: dict[str, list[str]], target: str) -> Dataset:
    if target not in columns:
        msg = f"dataset {name} has no target column {target!r} (columns: {', '.join(columns)})"
        raise DatasetError(msg)
    feature_names = tuple(column for column in columns if column != target)
    if not feature_names:
        msg = f"dataset {name} has no feature columns besides {target!r}"
        raise DatasetError(msg)
    arrays = {column: _numeric(name, column, values) for column, values in columns.items()}
    if len(arrays[target]) == 0:
        msg = f"dataset {name} has no rows"
        raise DatasetError(msg)
    features = np.column_stack([arrays[column] for column in feature_names])
    usable = np.isfinite(features).all(axis=1) & np.isfinite(arrays[target])
    if not usable.any():
        msg = f"dataset {name} has no row without missing values"
        raise DatasetError(msg)
    return Dataset(name, features[usable], arrays[target][usable], feature_names)


def _numeric(name: str, column: str, values: list[str]) -> Floats:
    try:
        return np.array([np.nan if v in ("", None) else float(v) for v in values], np.float64)
    except (TypeError, ValueError):
        msg = f"dataset {name}: column {column!r} is not numeric"
        raise DatasetError(msg) from None


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
