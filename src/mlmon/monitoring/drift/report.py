"""A drift report: each column's effect size and test over the window, and which drifted."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """One column's drift over the window; figures are None while it holds no values.

    A numeric column has PSI and KS, a categorical one chi-square and the Jensen-Shannon
    distance; `p_value` is its test's, None while it warms up (it then takes no part in the
    false discovery control), and `adjusted_pvalue` the Benjamini-Hochberg one."""

    name: str
    kind: Literal["numeric", "categorical"]
    rows: int  # values in the window (missing ones, and type mismatches, left out)
    psi: float | None = None
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    chi2_statistic: float | None = None
    chi2_pvalue: float | None = None
    js_distance: float | None = None
    p_value: float | None = None
    adjusted_pvalue: float | None = None
    drifted: bool = False
    warming_up: bool = True  # fewer than min_rows values: never flagged

    def adjusted(self, q: float, drifted: bool) -> ColumnDrift:
        return dataclasses.replace(self, adjusted_pvalue=q, drifted=drifted)

    def to_dict(self) -> dict[str, Any]:
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name != "name"
        }


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Drift of every column over the current window."""

    rows: int  # rows in the window
    min_rows: int
    psi_threshold: float  # a large shift by the usual rule of thumb: shown, never flags alone
    fdr: float  # the false discovery rate the flags are controlled at
    columns: tuple[ColumnDrift, ...]

    @property
    def warming_up(self) -> bool:
        return self.rows < self.min_rows

    @property
    def drifted_columns(self) -> list[str]:
        return [column.name for column in self.columns if column.drifted]

    @property
    def drifted(self) -> bool:
        return any(column.drifted for column in self.columns)

    def column(self, name: str) -> ColumnDrift:
        for column in self.columns:
            if column.name == name:
                return column
        msg = f"no column {name!r} in the drift report"
        raise KeyError(msg)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (no NaN): the rule's settings, the drifted columns and each column's
        figures."""
        return {
            "rows": self.rows,
            "min_rows": self.min_rows,
            "warming_up": self.warming_up,
            "psi_threshold": self.psi_threshold,
            "fdr": self.fdr,
            "drifted_columns": self.drifted_columns,
            "columns": {column.name: column.to_dict() for column in self.columns},
        }
