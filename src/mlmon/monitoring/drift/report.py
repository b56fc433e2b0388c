"""A drift report: each column's PSI and KS over the window, and which columns drifted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """One column's drift over the window; statistics are None while it holds no values."""

    name: str
    rows: int  # values in the window (missing ones left out)
    psi: float | None
    ks_statistic: float | None
    ks_pvalue: float | None
    drifted: bool
    warming_up: bool  # fewer than min_rows values: never flagged

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "psi": self.psi,
            "ks_statistic": self.ks_statistic,
            "ks_pvalue": self.ks_pvalue,
            "drifted": self.drifted,
            "warming_up": self.warming_up,
        }


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Drift of every column over the current window."""

    rows: int  # rows in the window
    min_rows: int
    psi_threshold: float
    ks_pvalue_threshold: float
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
        """JSON-ready (no NaN): the thresholds, the drifted columns and each column's figures."""
        return {
            "rows": self.rows,
            "min_rows": self.min_rows,
            "warming_up": self.warming_up,
            "psi_threshold": self.psi_threshold,
            "ks_pvalue_threshold": self.ks_pvalue_threshold,
            "drifted_columns": self.drifted_columns,
            "columns": {column.name: column.to_dict() for column in self.columns},
        }
