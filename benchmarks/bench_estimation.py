"""Estimated quality before labels (monitoring/estimation): fit time, throughput, and how close
the estimate comes to the realized figure per chunk, before and after a shift.

Prints, on the simulated models of the unit tests (tests/unit/monitoring/estimation/simulated):
- the fit time of CBPE (three classes, over-confident scores) and DLE (two features, one a
  category) on a --reference-row reference (median of 3 fits);
- rows/s through `ConfidenceEstimator.estimate` (with the AUC), `.confusion` (additive sums
  only) and `LossEstimator.estimate`, in chunks of --chunk rows;
- per chunk of --chunk rows, --chunks chunks before and after a shift (classification: scores
  turn less confident; regression: the noisy feature moves), the mean absolute gap between
  the estimated and the realized accuracy / MAE; beside it the gap of the reference's realized
  figure, the best a user could assume from the labels until a chunk's own arrive.

    uv run python benchmarks/bench_estimation.py [--reference-rows 10000] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

# the simulated models are the unit tests' own: one definition of the truth
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.monitoring.estimation.simulated import (
    CLASSES,
    classified,
    regressed,
)

from mlmon.monitoring.estimation import ConfidenceEstimator, LossEstimator

SHARPEN = 2.0  # over-confident scores: calibration has work to do
CONFIDENT, UNSURE = 0.5, 3.0  # Dirichlet concentrations before and after the shift
CENTRED, SHIFTED = 0.0, 1.5  # mean of the noisy regression feature before and after


def timed(run: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def rate(rows: int, run: Callable[[int, int], object], chunk: int) -> float:
    started = time.perf_counter()
    for start in range(0, rows, chunk):
        run(start, start + chunk)
    return rows / (time.perf_counter() - started)


def periods(
    chunks: int,
    shifts: tuple[float, float],
    chunk: Callable[[float, int], tuple[float, float | None]],
    reference: float,
) -> None:
    """Before and after the shift, `chunks` chunks of `chunk(shift, seed)`, each (realized,
    estimated): one line per period of the means of the figures and of the gaps."""
    print("  per chunk  realized  estimated  |est-real|  |ref-real|  realized before labels")
    for name, shift, first_seed in (("before", shifts[0], 100), ("after", shifts[1], 200)):
        pairs = [chunk(shift, first_seed + i) for i in range(chunks)]
        realized = np.array([real for real, _ in pairs])
        estimated = np.array([est for _, est in pairs], dtype=np.float64)
        print(
            f"  {name:<9}  {realized.mean():8.3f}  {estimated.mean():9.3f}"
            f"  {np.abs(estimated - realized).mean():10.4f}"
            f"  {np.abs(reference - realized).mean():10.4f}  none until labels"
        )


def classification(args: argparse.Namespace) -> None:
    ref = classified(args.reference_rows, CONFIDENT, seed=1, sharpen=SHARPEN)
    fit_s = timed(lambda: ConfidenceEstimator.fit(ref.y_true, ref.y_pred, ref.scores, CLASSES))
    estimator = ConfidenceEstimator.fit(ref.y_true, ref.y_pred, ref.scores, CLASSES)
    big = classified(args.throughput_rows, UNSURE, seed=2, sharpen=SHARPEN)
    with_auc = rate(
        args.throughput_rows,
        lambda a, b: estimator.estimate(big.y_pred[a:b], big.scores[a:b], CLASSES),
        args.chunk,
    )
    sums_only = rate(
        args.throughput_rows,
        lambda a, b: estimator.confusion(big.y_pred[a:b], big.scores[a:b], CLASSES),
        args.chunk,
    )
    reference = float((ref.y_true == ref.y_pred).mean())
    print(f"classification (CBPE), {len(CLASSES)} classes, scores over-confident (squared)")
    print(f"  fit on {args.reference_rows:,} rows: {fit_s * 1000:.0f} ms")
    print(f"  estimate with AUC: {with_auc:,.0f} rows/s; expected confusion only: {sums_only:,.0f}")
    print(f"  reference accuracy (realized): {reference:.3f}")

    def accuracy(concentration: float, seed: int) -> tuple[float, float | None]:
        rows = classified(args.chunk, concentration, seed=seed, sharpen=SHARPEN)
        estimated = estimator.estimate(rows.y_pred, rows.scores, CLASSES).accuracy
        return float((rows.y_true == rows.y_pred).mean()), estimated

    periods(args.chunks, (CONFIDENT, UNSURE), accuracy, reference)


def regression(args: argparse.Namespace) -> None:
    ref = regressed(args.reference_rows, CENTRED, seed=1)

    def fit() -> LossEstimator:
        return LossEstimator.fit(ref.features, ref.y_true, ref.y_pred, categorical=[1])

    fit_s = timed(fit)
    estimator = fit()
    big = regressed(args.throughput_rows, SHIFTED, seed=2)
    throughput = rate(
        args.throughput_rows,
        lambda a, b: estimator.estimate(big.features[a:b], big.y_pred[a:b]),
        args.chunk,
    )
    reference = float(np.abs(ref.y_true - ref.y_pred).mean())
    print("regression (DLE), noise growing with |x0| and the category")
    print(f"  fit on {args.reference_rows:,} rows (two loss models): {fit_s * 1000:.0f} ms")
    print(f"  estimate: {throughput:,.0f} rows/s")
    print(f"  reference MAE (realized): {reference:.3f}")

    def mae(mean: float, seed: int) -> tuple[float, float | None]:
        rows = regressed(args.chunk, mean, seed=seed)
        estimated = estimator.estimate(rows.features, rows.y_pred).mae
        return float(np.abs(rows.y_true - rows.y_pred).mean()), estimated

    periods(args.chunks, (CENTRED, SHIFTED), mae, reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-rows", type=int, default=10_000)
    parser.add_argument("--throughput-rows", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=1_000)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads for the trees")
    args = parser.parse_args()
    print(
        f"OpenMP threads: {args.threads}; chunks of {args.chunk:,} rows, {args.chunks} per period"
    )
    with threadpool_limits(limits=args.threads, user_api="openmp"):
        classification(args)
        regression(args)


if __name__ == "__main__":
    main()
