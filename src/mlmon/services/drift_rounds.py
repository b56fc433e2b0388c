"""Drift reports, recomputed every few seconds by the service that sees the features: the
model service for its own model, the metric service for predictions that carry them."""

from __future__ import annotations

import asyncio
import time

from mlmon.monitoring.alert_rules import drift_signals
from mlmon.ops.alert_actions import Alerting
from mlmon.ops.monitors import LiveDrift
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
    """Recompute the drift report (a few ms) for the status file and scrapes; check its rules."""
    report = {"model": drift.model, **drift.refresh().to_dict()}
    stats.details["drift"] = report
    stats.gauges["drifted_columns"] = len(report["drifted_columns"])
    if alerting is not None:
        columns = report["columns"]
        signals = {
            drift.model: {
                **drift_signals(columns),
                "drifted_columns": float(len(report["drifted_columns"])),
            }
        }
        await alerting.check(signals, time.time())
