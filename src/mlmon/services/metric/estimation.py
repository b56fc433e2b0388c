"""Estimation in the metric service: each new prediction's estimate cells, computed when it is
decoded and counted with it in the join store (exactly once, `join.counts`), and the live
window's figures.

A classifier's predictions are estimated from the scores they carry; a regressor's from the
features they carry (a model mlmon does not run sends them, `mlmon.client`'s `features=`).
Batches of mlmon's own numeric stream carry neither, so they are not estimated. A batch the
estimator refuses (its scores name other classes than the reference's), rows it cannot estimate
(no scores, no feature the reference knows) and other models' predictions (the estimator is
fitted for one model) are counted in `not_estimated` and logged once per reason; they go on
unestimated.
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
from mlmon.join.batches import BatchHalf
from mlmon.monitoring.estimation.live import Estimated, LiveEstimator
from mlmon.ops.estimation import EstimateGauges, EstimatorSetup, fit_estimator
from mlmon.ops.status import ServiceStats
from mlmon.ops.telemetry import Telemetry
from mlmon.services.metric.halves import Halves
from mlmon.services.metric.intake import Prepared
from mlmon.settings import Settings
from mlmon.wire.arrow import RecordColumns

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
        self.setup = await asyncio.to_thread(fit_estimator, self.settings)
        log.info("estimated quality before labels: %s", self.setup.reason)
        self.stats.details["estimation"] = {"state": self.setup.reason}
        if self.setup.estimator is None:
            return
        # OpenMP's threads would spin on the cores the join needs: the trees predict a batch's
        # rows fast enough on one. Set here, on the loop's thread that predicts, once the fit
        # has loaded scikit-learn's OpenMP runtime.
        threadpool_limits(limits=1, user_api="openmp")
        if telemetry is not None:
            telemetry.registry.register(self.gauges)

    def refresh(self) -> None:
        """The live windows' figures into the status file (the dashboard reads them)."""
        if self.setup.estimator is not None:
            self.stats.details["estimation"] = {
                "state": self.setup.reason, "window": self.gauges.figures(),
            }  # fmt: skip

    def cells(self, halves: Halves) -> list[Floats | None] | None:
        """Per prediction of `halves` its estimate cells (None: not estimated); None when
        none is. Only the predictions of the model the estimator was fitted for are; the
        others are counted in `not_estimated`."""
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

    def estimate(self, prepared: Prepared) -> None:
        """Every new prediction of a prepared batch gets its cells: those joined one by one
        (`prepared.cells`) and each Arrow batch joined whole (`half.cells`); the others are
        counted as not estimable."""
        prepared.cells = self.cells(prepared.halves)
        unestimable = sum(len(half.keys) for _, half, _ in prepared.whole)
        for half, columns, kept in prepared.whole_arrow:
            half.cells = self.batch_cells(half, columns, kept)
            if any(x is not None for x in (columns.features, columns.vector, columns.scores)):
                unestimable -= len(half.keys)  # estimated, or counted if not
        self.count_unestimable(prepared.halves, unestimable)

    def batch_cells(
        self, half: BatchHalf, columns: RecordColumns, kept: list[int]
    ) -> Floats | None:
        """A prediction batch joined whole (its `kept` rows of `columns`): its rows' cells
        (rows x cells, zeros where a row is not estimated), or None when none is; the same
        estimation as `cells`, without a Python step per row (a batch is of one model)."""
        estimator = self.setup.estimator
        if estimator is None:
            return None
        if half.model != self.setup.model:
            self._ours_of([half.model], len(half.keys))
            return None
        estimate = _column_estimate(estimator, columns, kept, half.values)
        estimated = None if estimate is None else self._run(estimate, len(kept))
        if estimated is None:
            return None
        done = estimated.cells[:, 0] > 0
        self.gauges.add(half.model, estimated.select(np.ones(len(done), dtype=np.bool_)))
        if not done.any():
            return None
        return np.where(done[:, None], estimated.cells, 0.0)

    def count_unestimable(self, halves: Halves, batch_rows: int) -> None:
        """Predictions that carry neither features nor scores (the seeds' and mlmon's own
        numeric ones, batches joined whole): counted and said once, so that an estimation
        that is on yet shows nothing explains itself."""
        if self.setup.estimator is None or halves.truth:
            return
        rows = batch_rows + len(halves.keys) - len(halves.single_inputs)
        rows -= sum(len(kept) for _, kept, _ in halves.column_inputs)
        if rows > 0:
            reason = "predictions without features or scores (numeric batches or bare values)"
            self._not_estimated(rows, reason)

    def _ours(self, halves: Halves, positions: Sequence[int]) -> list[int]:
        """Which of `positions` (indices into them) are the fitted model's predictions."""
        model = self.setup.model
        mine = [i for i, p in enumerate(positions) if halves.models[p] == model]
        if len(mine) < len(positions):
            others = sorted({halves.models[p] for p in positions} - {model})
            self._ours_of(others, len(positions) - len(mine))
        return mine

    def _ours_of(self, others: list[str], rows: int) -> None:
        """Count `rows` predictions of models (`others`) the estimator was not fitted for."""
        reason = (
            f"no estimator for model(s) {others[:5]}: the reference was fitted for model "
            f"{self.setup.model!r} (MLMON_MODEL_NAME names the model a reference is for)"
        )
        self._not_estimated(rows, reason)

    def _singles(self, halves: Halves, values: Floats, out: list[Floats | None]) -> None:
        estimator = self.setup.estimator
        assert estimator is not None
        inputs = halves.single_inputs
        inputs = [inputs[i] for i in self._ours(halves, [p for p, _, _ in inputs])]
        if estimator.kind == "regression":
            given = [(p, f) for p, f, _ in inputs if f is not None]
            if given:
                spots = [p for p, _ in given]
                matrix = estimator.features_of([f for _, f in given])
                estimate = partial(estimator.regression, matrix, values[spots])
                self._place(halves, out, spots, estimate)
            return
        groups: dict[tuple[str, ...], list[tuple[int, dict[str, float]]]] = {}
        for position, _, scores in inputs:
            if scores:
                groups.setdefault(tuple(scores), []).append((position, scores))
        for names, rows in groups.items():
            spots = [p for p, _ in rows]
            matrix = np.array([[s[n] for n in names] for _, s in rows], dtype=np.float64)
            estimate = partial(_classified, estimator, values[spots], matrix, names)
            self._place(halves, out, spots, estimate)

    def _columns(self, halves: Halves, values: Floats, out: list[Floats | None]) -> None:
        estimator = self.setup.estimator
        assert estimator is not None
        for start, kept_rows, columns in halves.column_inputs:
            mine = self._ours(halves, range(start, start + len(kept_rows)))
            if not mine:
                continue
            kept = [kept_rows[i] for i in mine]
            spots = [start + i for i in mine]
            estimate = _column_estimate(estimator, columns, kept, values[spots])
            if estimate is not None:
                self._place(halves, out, spots, estimate)

    def _place(
        self,
        halves: Halves,
        out: list[Floats | None],
        spots: Sequence[int],
        estimate: Callable[[], Estimated],
    ) -> None:
        """Rows' cells (`estimate()`) into `out` and their models' live windows; a part the
        estimator refuses is counted and logged, and left unestimated."""
        estimated = self._run(estimate, len(spots))
        if estimated is None:
            return
        cells = estimated.cells
        done = cells[:, 0] > 0
        for i, position in enumerate(spots):
            if done[i]:
                out[position] = cells[i].copy()  # a row alone: it may wait long in memory
        models = [halves.models[p] for p in spots]
        for model in set(models):
            mine = np.array([m == model for m in models])
            self.gauges.add(model, estimated.select(mine))

    def _run(self, estimate: Callable[[], Estimated], rows: int) -> Estimated | None:
        """`estimate()` for `rows` predictions, the estimated and unusable ones counted; None
        (counted and logged) when the estimator refuses them."""
        try:
            estimated = estimate()
        except EstimationError as error:
            self._not_estimated(rows, str(error))
            return None
        self.stats.counters["estimated"] += int(np.count_nonzero(estimated.cells[:, 0] > 0))
        if estimated.unusable:
            reason = "rows without scores, or whose features hold none of the reference's"
            self._not_estimated(estimated.unusable, reason)
        return estimated

    def _not_estimated(self, rows: int, reason: str) -> None:
        self.stats.counters["not_estimated"] += rows
        if reason not in self._warned and len(self._warned) < 100:
            self._warned.add(reason)
            log.warning("predictions not estimated: %s", reason)


def _classified(
    estimator: LiveEstimator, y_pred: Floats, scores: Floats, names: Sequence[str]
) -> Estimated:
    return estimator.classification(y_pred, scores, estimator.classes_named(names))


def _column_estimate(
    estimator: LiveEstimator, columns: RecordColumns, kept: list[int], values: Floats
) -> Callable[[], Estimated] | None:
    """The estimation of an Arrow batch's `kept` rows (predicted `values`): from their
    features (regression) or their scores (classification); None when they carry neither."""
    if estimator.kind == "regression":
        part = columns.features_of(kept)
        if part is not None:
            matrix = estimator.features_of_columns(part, len(kept))
        elif columns.vector is not None:
            matrix = estimator.features_of(columns.vector[kept].tolist())
        else:
            return None
        return partial(estimator.regression, matrix, values)
    if columns.scores is not None and columns.classes:
        scores = columns.scores[kept]
        return partial(_classified, estimator, values, scores, columns.classes)
    return None
