"""Drift and data quality for a model mlmon does not run: fed with the features its
predictions carry, built on the first such prediction (a pipeline whose own model service
computes drift never pays for it), and refreshed every few seconds like the model service's."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmon.ops.alert_actions import Alerting
from mlmon.ops.drift import LiveDrift
from mlmon.ops.status import ServiceStats
from mlmon.ops.telemetry import Telemetry
from mlmon.services.drift_rounds import DRIFT_EVERY, drift_round, refresh_drift
from mlmon.settings import Settings


class DriftFeed:
    def __init__(
        self,
        settings: Settings,
        stats: ServiceStats,
        alerting: Alerting | None,
        telemetry: Telemetry | None,
    ) -> None:
        self.settings, self.stats = settings, stats
        self.alerting, self.telemetry = alerting, telemetry
        self.drift: LiveDrift | None = None
        self._tried = False
        self._refresher: asyncio.Task[None] | None = None

    def add(
        self,
        rows: Sequence[Mapping[str, float | str | None]],
        columns: Sequence[Mapping[str, npt.NDArray[Any]]],
        model: str,
    ) -> None:
        """Named features of predictions: rows of single records, columns of Arrow batches."""
        if not rows and not columns:
            return
        if not self._tried:
            self._tried = True
            self.drift = LiveDrift.for_reference(self.settings, model)
            if self.drift is not None:
                if self.telemetry is not None:
                    self.telemetry.registry.register(self.drift)
                interval = max(self.settings.status_interval, DRIFT_EVERY)
                self._refresher = asyncio.create_task(
                    refresh_drift(self.drift, self.stats, interval, self.alerting)
                )
        drift = self.drift
        if drift is None:
            return
        names = (*drift.numeric, *drift.categorical)
        if rows:
            drift.observe_rows(rows)
            drift.add_columns(
                {name: np.array([row.get(name) for row in rows], dtype=object) for name in names}
            )
        for part in columns:
            drift.observe_columns(part, len(next(iter(part.values()))) if part else 0)
            drift.add_columns(part)

    async def close(self) -> None:
        if self._refresher is not None and self.drift is not None:
            self._refresher.cancel()
            await drift_round(self.drift, self.stats, self.alerting)
