"""The report's view of the features: the latest drift and data quality reports the services
wrote to their status files, and their lines in `mlmon report`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# The services that see features: the model service for its model, the metric service for
# one mlmon does not run (predictions carrying features).
FEATURE_SERVICES = ("model", "metric")
_RATES = (
    ("missing_rate", "missing"),
    ("out_of_range_rate", "out of range"),
    ("unseen_rate", "unseen category"),
    ("type_mismatch_rate", "wrong type"),
    ("absent_rate", "absent"),
)


def latest_by_model(statuses: Iterable[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Per model, the newest `details[key]` ("drift", "data_quality") of the services that
    see features, in model order (steady, not update order)."""
    reports: dict[str, dict[str, Any]] = {}
    for status in sorted(statuses, key=lambda s: s.get("updated_at", 0)):
        report = status.get("details", {}).get(key)
        if status.get("service") in FEATURE_SERVICES and report:
            reports[str(report.get("model", ""))] = report
    return [reports[model] for model in sorted(reports)]


def feature_lines(report: dict[str, Any]) -> list[str]:
    """The drift line (flagged columns, the largest effect) and the data quality lines."""
    lines = []
    drift = report.get("drift")
    if drift:
        columns = drift["columns"]  # name -> figures
        flagged = drift["drifted_columns"]
        fdr = drift.get("fdr")
        effects = {
            name: (figures.get("psi"), "PSI") if figures.get("psi") is not None
            else (figures.get("js_distance"), "JS")
            for name, figures in columns.items()
        }  # fmt: skip
        shown = [name for name, (value, _) in effects.items() if value is not None]
        worst = max(shown, key=lambda name: effects[name][0] or 0.0) if shown else None
        lines.append(
            f"drift over the last {drift['rows']:,} rows"
            + (f" (false discovery rate {fdr:g})" if fdr is not None else "")
            + ": "
            + (f"DRIFTED {', '.join(flagged)}" if flagged else "none flagged")
            + (
                f" | largest {effects[worst][1]} {worst} {effects[worst][0]:.3f}"
                if worst is not None
                else ""
            )
        )
    quality = report.get("data_quality")
    if quality and quality.get("rows"):
        lines.append(f"data quality over the last {quality['rows']:,} records:")
        width = max(map(len, quality["columns"]), default=0)
        for name, figures in quality["columns"].items():
            found = [
                f"{label} {figures[rate]:.1%}"
                for rate, label in _RATES
                if figures.get(rate)  # None (not applicable) and 0 left out
            ]
            lines.append(f"  {name:<{width}}  {', '.join(found) if found else 'fine'}")
        changes = quality.get("schema_changes", [])
        if changes:
            lines.append(f"  schema changes: {', '.join(changes)} (+ appeared, - absent)")
    return lines
