"""The dashboard's cost with a long metric log: refresh time, what the page receives, memory.

    uv run python benchmarks/bench_dashboard.py [--rows 1000000,5000000] [--models K]

For each log size, in a fresh process (so its peak RSS is the dashboard's work alone): the
first refresh (reads the whole log), a refresh with no new rows (statuses only), a refresh
after 1,000 new rows (every aggregate recomputed; the service does that at most once per 5x
its cost), the snapshot's size as sent over server-sent events, the metrics_over_time.png
render, and the memory: bytes the summary holds, RSS after start-up, RSS and peak RSS at the end.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench_plot import in_fresh_process, print_memory, rss_mb, timed, write_log


def measure(logs: Path) -> None:
    import msgspec

    from mlmon.dashboard.aggregates import metrics_over_time
    from mlmon.dashboard.state import DashboardState
    from mlmon.render.over_time import render_metrics_over_time

    started_mb = rss_mb()
    log = logs / "metric_log.csv"
    state = DashboardState(logs)
    timed("first refresh (reads the whole log)", lambda: state.refresh([]))
    timed("refresh, no new rows", lambda: state.refresh([]))
    with log.open("a") as handle, log.open() as source:
        source.readline()
        handle.write("".join(source.readline() for _ in range(1000)))
    timed("refresh after 1,000 new rows (all figures)", lambda: state.refresh([], recompute=True))
    payload = msgspec.json.encode(state.latest)
    print(f"{'snapshot sent to the page':<46} {len(payload) / 1024:10.1f} kB")
    over_time = metrics_over_time(state.summary)
    timed(
        "render metrics_over_time.png",
        lambda: render_metrics_over_time(
            over_time, logs / "metrics_over_time.png", datetime.now(UTC)
        ),
    )
    rows = state.reader.count
    print_memory(f"held by the summary at {rows:,} rows", state.summary.nbytes, rows, started_mb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,5000000", help="log sizes, comma-separated")
    parser.add_argument("--models", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        logs = Path(directory)
        for rows in (int(size) for size in args.rows.split(",")):
            log = logs / "metric_log.csv"
            write_log(log, rows, args.models)
            size = log.stat().st_size / 1e6
            print(f"\n{rows:,} rows, {args.models} models, {size:.0f} MB log", flush=True)
            in_fresh_process(measure, logs)


if __name__ == "__main__":
    main()
