"""Estimation in the metric service: each new prediction's estimate cells, computed when it is
decoded and counted with it in the join store (exactly once, `join.counts`), and the live
window's figures.

A classifier's predictions are estimated from the scores they carry; a regressor's from the
features they carry (a model mlmon does not run sends them, `mlmon.client`'s `features=`).
Batches of mlmon's own numeric stream carry neither, so they are not estimated. A batch the
estimator refuses (its scores name other classes than the reference's) is counted in
`estimates_refused` and logged once per reason; its predictions go on unestimated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
from threadpoolctl import threadpool_limits

from mlmon.arrays import Floats
from mlmon.errors import EstimationError
from mlmon.monitoring.estimation.live import Estimated
from mlmon.ops.estimation import EstimateGauges, EstimatorSetup, fit_estimator
from mlmon.ops.status import ServiceStats
from mlmon.ops.telemetry import Telemetry
from mlmon.services.metric.intake import Halves
from mlmon.settings import Settings
from mlmon.wire.labels import label_code

log = logging.getLogger(__name__)


class MetricEstimation:
    """The fitted estimator (or why it is off) and the live windows."""

    def __init__(self, settings: Settings, stats: ServiceStats) -> None:
        self.settings, self.stats = settings, stats
        self.setup = EstimatorSetup(None, "fitting")
        self.gauges = EstimateGauges(settings.quality_window)
        self._warned: set[str] = set()

    async def start(self, telemetry: Telemetry | None) -> None:
        """Fit before the first delivery, so that every prediction is estimated."""
        # OpenMP's threads would spin on the cores the join needs: the trees predict a
        # batch's rows fast enough on one (fitting too, before the first delivery).
        threadpool_limits(limits=1, user_api="openmp")
        self.setup = await asyncio.to_thread(fit_estimator, self.settings)
        log.info("estimated quality before labels: %s", self.setup.reason)
        self.stats.details["estimation"] = {"state": self.setup.reason}
        if self.setup.estimator is not None and telemetry is not None:
            telemetry.registry.register(self.gauges)

    def refresh(self) -> None:
        """The live windows' figures into the status file (the dashboard reads them)."""
        if self.setup.estimator is not None:
            self.stats.details["estimation"] = {
                "state": self.setup.reason, "window": self.gauges.figures(),
            }  # fmt: skip

    def cells(self, halves: Halves) -> list[Floats | None] | None:
        """Per prediction of `halves` its estimate cells (None: not estimated); None when
        none is."""
        estimator = self.setup.estimator
        if estimator is None or halves.truth:
            return None
        if not halves.single_inputs and not halves.column_inputs:
            return None
        out: list[Floats | None] = [None] * len(halves.keys)
        values = np.asarray(halves.values, dtype=np.float64)
        self._singles(halves, values, out)
        self._columns(halves, values, out)
        return out if any(c is not None for c in out) else None

    def _singles(self, halves: Halves, values: Floats, out: list[Floats | None]) -> None:
        estimator = self.setup.estimator
        assert estimator is not None
        if estimator.kind == "regression":
            given = [(p, f) for p, f, _ in halves.single_inputs if f is not None]
            if given:
                spots = [p for p, _ in given]
                matrix = estimator.features_of([f for _, f in given])
                estimate = partial(estimator.regression, matrix, values[spots])
                self._place(halves, out, spots, estimate)
            return
        groups: dict[tuple[str, ...], list[tuple[int, dict[str, float]]]] = {}
        for position, _, scores in halves.single_inputs:
            if scores:
                groups.setdefault(tuple(scores), []).append((position, scores))
        for names, rows in groups.items():
            spots = [p for p, _ in rows]
            matrix = np.array([[s[n] for n in names] for _, s in rows], dtype=np.float64)
            self._place(
                halves, out, spots,
                partial(estimator.classification, values[spots], matrix, _classes(names)),
            )  # fmt: skip

    def _columns(self, halves: Halves, values: Floats, out: list[Floats | None]) -> None:
        estimator = self.setup.estimator
        assert estimator is not None
        for start, kept, columns in halves.column_inputs:
            spots = list(range(start, start + len(kept)))
            if estimator.kind == "regression":
                if columns.features is None:
                    continue
                part = {name: column[kept] for name, column in columns.features.items()}
                matrix = estimator.features_of_columns(part, len(kept))
                estimate = partial(estimator.regression, matrix, values[spots])
                self._place(halves, out, spots, estimate)
            elif columns.scores is not None and columns.classes:
                scores, classes = columns.scores[kept], _classes(columns.classes)
                self._place(
                    halves, out, spots,
                    partial(estimator.classification, values[spots], scores, classes),
                )  # fmt: skip

    def _place(
        self,
        halves: Halves,
        out: list[Floats | None],
        spots: Sequence[int],
        estimate: Callable[[], Estimated],
    ) -> None:
        """Rows' cells (`estimate()`) into `out` and their models' live windows; a part the
        estimator refuses is counted and logged, and left unestimated."""
        try:
            estimated = estimate()
        except EstimationError as error:
            self._refused(str(error))
            return
        cells = estimated.cells
        for i, position in enumerate(spots):
            if cells[i, 0] > 0:
                out[position] = cells[i]
        self.stats.counters["estimated"] += int(np.count_nonzero(cells[:, 0] > 0))
        models = [halves.models[p] for p in spots]
        for model in set(models):
            mine = np.array([m == model for m in models])
            self.gauges.add(model, estimated.select(mine))

    def _refused(self, reason: str) -> None:
        self.stats.counters["estimates_refused"] += 1
        if reason not in self._warned and len(self._warned) < 100:
            self._warned.add(reason)
            log.warning("predictions not estimated: %s", reason)


def _classes(names: Sequence[str]) -> list[float]:
    return [label_code(name) for name in names]
