"""The dashboard's cost with a 1,000,000-row metric log: refresh time and what the page receives.

    uv run python benchmarks/bench_dashboard.py [--rows N] [--models K]

Prints: the first refresh (reads the whole log), a refresh with no new rows (statuses only),
a refresh after 1,000 new rows (every aggregate recomputed; the service does that at most once
per 5x its cost, so at most a fifth of a core), the snapshot's size in bytes as
sent over server-sent events, the reader's memory, and the metrics_over_time.png render.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from bench_plot import write_log

from mlmon.dashboard.aggregates import metrics_over_time
from mlmon.dashboard.state import DashboardState, log_columns
from mlmon.over_time_plot import render_metrics_over_time


def timed(label: str, work: object) -> float:
    started = time.perf_counter()
    work()  # type: ignore[operator]
    seconds = time.perf_counter() - started
    print(f"{label:<44} {seconds * 1000:9.1f} ms")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        logs = Path(directory)
        log = logs / "metric_log.csv"
        write_log(log, args.rows, args.models)
        print(f"{args.rows:,} rows, {args.models} models, {log.stat().st_size / 1e6:.0f} MB log")
        state = DashboardState(logs)
        timed("first refresh (reads the whole log)", lambda: state.refresh([]))
        timed("refresh, no new rows", lambda: state.refresh([]))
        with log.open("a") as handle, log.open() as source:
            source.readline()
            handle.write("".join(source.readline() for _ in range(1000)))
        timed(
            "refresh after 1,000 new rows (all figures)", lambda: state.refresh([], recompute=True)
        )
        payload = msgspec.json.encode(state.latest)
        print(f"{'snapshot sent to the page':<44} {len(payload) / 1024:9.1f} kB")
        reader = state.reader
        held = reader.errors.nbytes + reader.model_codes.nbytes
        held += sum(reader.column(c).nbytes for c in ("y_true", "y_pred", "joined_at"))
        print(f"{'rows held by the reader':<44} {held / 1e6:9.1f} MB")
        over_time = metrics_over_time(log_columns(reader))
        timed(
            "render metrics_over_time.png",
            lambda: render_metrics_over_time(
                over_time, logs / "metrics_over_time.png", datetime.now(UTC)
            ),
        )


if __name__ == "__main__":
    main()
