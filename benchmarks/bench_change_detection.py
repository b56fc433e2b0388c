"""Change detection (monitoring/detectors.py): speed, false alarms, delay.

Prints, for the default DetectorConfig:
- rows/s through `ChangeDetection.add` (regression, regression with one tag key, classification),
  and through the metric log reader with the plot's `ChangeSink` (the replay at start-up);
- false alarms per detector on stationary streams of --stationary rows (half-normal absolute
  errors; 0/1 errors at a 20 % error rate);
- the delay (rows after the change until the first change point) per detector, for a rise of
  the mean absolute error by 25 %, 50 % and 100 %, and of the error rate from 10 % to 15 % and
  25 %, over --seeds streams each.

    uv run python benchmarks/bench_change_detection.py [--stationary 1000000] [--seeds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mlmon.metric_log.append import format_rows
from mlmon.metric_log.layout import METRIC_COLUMNS
from mlmon.metric_log.reader import MetricLogReader
from mlmon.monitoring.detectors import ChangeDetection, ChangePoint
from mlmon.summary.changes import ChangeSink

BLOCK = 50_000
CHANGE_AT = 20_000


def feed(
    errors: npt.NDArray[np.float64], classified: bool, tags: list[dict[str, str]] | None = None
) -> tuple[list[ChangePoint], float]:
    detection = ChangeDetection()
    found: list[ChangePoint] = []
    started = time.perf_counter()
    for start in range(0, len(errors), BLOCK):
        part = errors[start : start + BLOCK]
        n = len(part)
        found += detection.add(
            part,
            np.zeros(n, dtype=np.int32),
            ("m",),
            np.full(n, classified),
            np.zeros(n),
            np.zeros(n),
            None if tags is None else tags[start : start + n],
        )
    return found, time.perf_counter() - started


def speed(rows: int) -> None:
    feed(np.zeros(1), False)  # river's import (seconds) is no part of the figures
    rng = np.random.default_rng(0)
    errors = np.abs(rng.normal(0, 40, rows))
    wrong = (rng.random(rows) < 0.2).astype(np.float64)
    tags = [{"region": "eu" if r < 0.3 else "us"} for r in rng.random(rows)]
    for name, (values, classified, row_tags) in {
        "regression": (errors, False, None),
        "regression, 1 tag key": (errors, False, tags),
        "classification": (wrong, True, None),
    }.items():
        _, seconds = feed(values, classified, row_tags)
        print(f"  {name:<24} {rows / seconds:>12,.0f} rows/s")
    with tempfile.TemporaryDirectory() as directory:
        for tagged in (False, True):
            path = Path(directory) / f"log-{tagged}.csv"
            lines = (
                (f"id{i}", 100.0, 100.0 + e, e, "m", "1", 1.7e9 + i, 1.7e9 + i, None, t)
                for i, (e, t) in enumerate(
                    zip(
                        errors.tolist(),
                        ('{"region":"' + tag["region"] + '"}' if tagged else None for tag in tags),
                        strict=True,
                    )
                )
            )
            path.write_text(format_rows([METRIC_COLUMNS]) + format_rows(lines))
            sink = ChangeSink()
            started = time.perf_counter()
            MetricLogReader(path, sink).poll()
            seconds = time.perf_counter() - started
            label = "log with tags" if tagged else "log without tags"
            print(f"  reader + ChangeSink, {label:<17} {rows / seconds:>9,.0f} rows/s")


def false_alarms(rows: int) -> None:
    rng = np.random.default_rng(1)
    for name, values, classified in (
        ("regression |N(0, 40)|", np.abs(rng.normal(0, 40, rows)), False),
        ("classification 20 % wrong", (rng.random(rows) < 0.2).astype(np.float64), True),
    ):
        found, _ = feed(values, classified)
        counts: dict[str, int] = {}
        for point in found:
            counts[point.detector] = counts.get(point.detector, 0) + 1
        shown = ", ".join(f"{d} {c}" for d, c in sorted(counts.items())) or "none"
        print(f"  {name:<27} {rows:,} rows: {shown}")


def delays(seeds: int) -> None:
    cases: list[tuple[str, bool, float, float]] = [
        ("MAE +25 %", False, 1.0, 1.25),
        ("MAE +50 %", False, 1.0, 1.5),
        ("MAE +100 %", False, 1.0, 2.0),
        ("error rate 10 -> 15 %", True, 0.10, 0.15),
        ("error rate 10 -> 25 %", True, 0.10, 0.25),
    ]
    for name, classified, before, after in cases:
        per_detector: dict[str, list[int | None]] = {}
        for seed in range(seeds):
            rng = np.random.default_rng(100 + seed)
            rows = CHANGE_AT + 30_000
            if classified:
                rate = np.where(np.arange(rows) < CHANGE_AT, before, after)
                values = (rng.random(rows) < rate).astype(np.float64)
            else:
                values = np.abs(rng.normal(0, 40, rows))
                values[CHANGE_AT:] *= after
            found, _ = feed(values, classified)
            detectors = ("adwin", "ddm") if classified else ("adwin", "page_hinkley")
            for detector in detectors:
                rows_after = [p.row - CHANGE_AT for p in found if p.detector == detector]
                first = next((r for r in rows_after if r > 0), None)
                per_detector.setdefault(detector, []).append(first)
            early = [p for p in found if p.row <= CHANGE_AT]
            if early:
                print(f"    (seed {seed}: {len(early)} change point(s) before the change)")
        cells = []
        for detector, values_found in per_detector.items():
            hits = [v for v in values_found if v is not None]
            missed = len(values_found) - len(hits)
            median = f"{statistics.median(hits):,.0f}" if hits else "-"
            worst = f"{max(hits):,}" if hits else "-"
            cells.append(f"{detector} median {median}, max {worst}, missed {missed}")
        print(f"  {name:<22} " + " | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stationary", type=int, default=1_000_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--speed-rows", type=int, default=300_000)
    args = parser.parse_args()
    print("speed:")
    speed(args.speed_rows)
    print("false alarms on stationary streams (no change at all):")
    false_alarms(args.stationary)
    print(f"delay in rows after a change at row {CHANGE_AT:,} ({args.seeds} seeds, 30,000 after):")
    delays(args.seeds)


if __name__ == "__main__":
    main()
