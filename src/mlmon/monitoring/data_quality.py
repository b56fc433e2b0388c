"""Data quality against the drift reference, over the last `window` records: per feature the
share missing, out of the reference's range, of a category the reference never had, of the
wrong type, and absent; and the features records carry that the reference lacks.

Each cell of a record gets one state (the first that applies: absent, missing, wrong type,
out of range or unseen, else fine), kept in a ring buffer of the last `window` records, so
the figures are exact shares of that window. A value of the wrong type (text in a numeric
column, a number in a categorical one) is counted, never raised. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmon.monitoring.drift import CategoryReference, ColumnReference, Reference
from mlmon.monitoring.drift.categories import MISMATCH, MISSING
from mlmon.monitoring.ring import Ring

# A cell's state; the order is the precedence when several could apply.
FINE, ABSENT, MISSING_VALUE, WRONG_TYPE, OUT_OF_RANGE, UNSEEN = range(6)
# The figures per feature, each the share of the window's records in one state.
RATES = {
    "absent_rate": ABSENT,
    "missing_rate": MISSING_VALUE,
    "type_mismatch_rate": WRONG_TYPE,
    "out_of_range_rate": OUT_OF_RANGE,
    "unseen_rate": UNSEEN,
}
MAX_NEW_COLUMNS = 16  # features the reference lacks, tracked by name: bad input cannot grow it
_ABSENT = object()  # a record without the key at all (None is a missing value)
States = npt.NDArray[np.int8]


@dataclass(frozen=True, slots=True)
class DataQualityReport:
    """The window's figures: per reference feature its rates (None where they cannot apply:
    no records yet, out-of-range for categories, unseen for numbers or for a reference that
    kept only its most frequent categories), and per new feature the share carrying it."""

    rows: int
    columns: dict[str, dict[str, Any]]  # name -> kind and rates
    new_columns: dict[str, float]
    new_columns_untracked: int  # names past MAX_NEW_COLUMNS, since the start

    @property
    def schema_changes(self) -> list[str]:
        """Features that appeared (`+name`) or went missing from some records (`-name`)."""
        gone = [f"-{name}" for name, rates in self.columns.items() if rates["absent_rate"]]
        return [*(f"+{name}" for name in self.new_columns), *gone]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "columns": self.columns,
            "new_columns": self.new_columns,
            "new_columns_untracked": self.new_columns_untracked,
            "schema_changes": self.schema_changes,
        }


class DataQuality:
    """The last `window` records' data quality against a reference (module docstring)."""

    def __init__(self, reference: Reference, window: int = 1000) -> None:
        self.reference = reference
        self._columns: tuple[ColumnReference | CategoryReference, ...] = (
            *reference.features,
            *reference.categorical,
        )
        self._names = frozenset(column.name for column in self._columns)
        self._states = Ring(window, len(self._columns), np.int8, FINE)
        self._new = Ring(window, MAX_NEW_COLUMNS, np.bool_, False)
        self._new_slots: dict[str, int] = {}
        self._untracked: set[str] = set()  # bounded by what it counts: reported as a number

    @property
    def rows(self) -> int:
        return len(self._states)

    def add_rows(self, bodies: Sequence[Mapping[str, Any]]) -> None:
        """Records' named features, as they came (a key may be absent, a value of any type)."""
        if not bodies:
            return
        columns = {
            column.name: np.fromiter(
                (body.get(column.name, _ABSENT) for body in bodies), dtype=object, count=len(bodies)
            )
            for column in self._columns
        }
        new = np.zeros((len(bodies), MAX_NEW_COLUMNS), dtype=np.bool_)
        for row, body in enumerate(bodies):
            for name in body.keys() - self._names:
                slot = self._slot(name)
                if slot is not None:
                    new[row, slot] = True
        self._push(columns, len(bodies), new)

    def add_columns(self, columns: Mapping[str, npt.NDArray[Any]], rows: int) -> None:
        """A batch of `rows` records as columns (a column not there is absent from all)."""
        if rows == 0:
            return
        new = np.zeros((rows, MAX_NEW_COLUMNS), dtype=np.bool_)
        for name in columns.keys() - self._names:
            slot = self._slot(name)
            if slot is not None:
                new[:, slot] = True
        self._push(columns, rows, new)

    def _slot(self, name: str) -> int | None:
        slot = self._new_slots.get(name)
        if slot is None and name not in self._untracked:
            if len(self._new_slots) < MAX_NEW_COLUMNS:
                slot = self._new_slots[name] = len(self._new_slots)
            elif len(self._untracked) < 10 * MAX_NEW_COLUMNS:
                self._untracked.add(name)
        return slot

    def _push(self, columns: Mapping[str, Any], rows: int, new: npt.NDArray[np.bool_]) -> None:
        states = np.full((rows, len(self._columns)), ABSENT, dtype=np.int8)
        for j, column in enumerate(self._columns):
            if column.name in columns:
                values = np.asarray(columns[column.name])
                if values.shape != (rows,):
                    msg = f"{values.shape} values of {column.name!r} for {rows} records"
                    raise ValueError(msg)
                states[:, j] = _states(column, values)
        self._states.push(states)
        self._new.push(new)

    def report(self) -> DataQualityReport:
        window = self._states.rows()
        rows = window.shape[0]
        columns: dict[str, dict[str, Any]] = {}
        for j, column in enumerate(self._columns):
            counts = np.bincount(window[:, j], minlength=len(RATES) + 1)
            rates: dict[str, Any] = {
                name: (float(counts[state]) / rows if rows else None)
                for name, state in RATES.items()
            }
            if isinstance(column, CategoryReference):
                rates["out_of_range_rate"] = None
                if not column.complete:
                    rates["unseen_rate"] = None
            else:
                rates["unseen_rate"] = None
            columns[column.name] = {"kind": _kind(column), **rates}
        carried = self._new.rows().sum(axis=0)
        new = {
            name: float(carried[slot]) / rows
            for name, slot in self._new_slots.items()
            if rows and carried[slot]
        }
        return DataQualityReport(rows, columns, new, len(self._untracked))


def _kind(column: ColumnReference | CategoryReference) -> str:
    return "categorical" if isinstance(column, CategoryReference) else "numeric"


def _states(column: ColumnReference | CategoryReference, values: npt.NDArray[Any]) -> States:
    """Each value's state in a column (ABSENT where the record lacked the key)."""
    absent = np.zeros(values.size, dtype=np.bool_)
    plain = values.tolist() if values.dtype == object else []
    if plain.count(_ABSENT):  # a scan in C; a record lacking the key is rare
        absent = np.fromiter((v is _ABSENT for v in plain), dtype=np.bool_, count=values.size)
    if absent.any():
        values = values.copy()
        values[absent] = None
    if isinstance(column, CategoryReference):
        codes = column.codes(values)
        states = np.select(
            [codes == MISSING, codes == MISMATCH, codes == column.unseen_cell],
            [MISSING_VALUE, WRONG_TYPE, UNSEEN if column.complete else FINE],
            FINE,
        )
    else:
        numbers, wrong = as_numbers(values)
        with np.errstate(invalid="ignore"):
            outside = (numbers < column.low) | (numbers > column.high)
        states = np.select(
            [wrong, np.isnan(numbers), outside], [WRONG_TYPE, MISSING_VALUE, OUT_OF_RANGE], FINE
        )
    return np.where(absent, ABSENT, states).astype(np.int8)


def as_numbers(values: npt.NDArray[Any]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """A numeric column's values as floats (NaN where missing or not a number) and where the
    value was not a number (text, a boolean)."""
    if values.dtype != object:
        if values.dtype.kind in "iuf":
            return values.astype(np.float64), np.zeros(values.size, dtype=np.bool_)
        return np.full(values.size, np.nan), np.ones(values.size, dtype=np.bool_)  # text, bool
    numbers = np.full(values.size, np.nan)
    wrong = np.zeros(values.size, dtype=np.bool_)
    for i, value in enumerate(values.tolist()):
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                numbers[i] = value
            except OverflowError:  # an integer past float's range: out of any range
                numbers[i] = math.inf if value > 0 else -math.inf
        elif value is not None:
            wrong[i] = True
    return numbers, wrong
