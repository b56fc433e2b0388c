"""Drift and data quality reports, recomputed every few seconds by the service that sees the
features: the model service for its own model, the metric service for predictions that carry
them."""

from __future__ import annotations

import asyncio
import time

from mlmon.monitoring.alert_rules import data_quality_signals, drift_signals
from mlmon.ops.alert_actions import Alerting
from mlmon.ops.drift import LiveDrift
from mlmon.ops.status import ServiceStats

# Seconds between drift reports: each takes the event loop for its numpy work, and drift over
# a window of a thousand rows moves slowly.
DRIFT_EVERY = 5.0


async def refresh_drift(
    drift: LiveDrift, stats: ServiceStats, interval: float, alerting: Alerting | None
) -> None:
    while True:
        await asyncio.sleep(interval)
        await drift_round(drift, stats, alerting)


async def drift_round(drift: LiveDrift, stats: ServiceStats, alerting: Alerting | None) -> None:
    """Recompute the reports (a few ms) for the status file and scrapes; check their rules."""
    drift_report, quality_report = drift.refresh()
    report = {"model": drift.model, **drift_report.to_dict()}
    quality = {"model": drift.model, **quality_report.to_dict()}
    stats.details["drift"] = report
    stats.details["data_quality"] = quality
    stats.gauges["drifted_columns"] = len(report["drifted_columns"])
    stats.gauges["schema_changes"] = len(quality["schema_changes"])
    if alerting is not None:
        signals = {
            drift.model: {
                **drift_signals(report["columns"]),
                **data_quality_signals(quality["columns"]),
                "drifted_columns": float(len(report["drifted_columns"])),
                "schema_changes": float(len(quality["schema_changes"])),
            }
        }
        await alerting.check(signals, time.time())
