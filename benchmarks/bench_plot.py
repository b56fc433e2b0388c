"""Time the plot service's work on a long metric log, and show its memory does not grow with it.

    uv run python benchmarks/bench_plot.py [--rows 1000000,5000000] [--models K]

For each log size: writes a log shaped like the metric service's, then, in a fresh process so
that its peak RSS is the plot's work alone: the first full read, an empty poll, a small
append, the renders (both PNGs, as the service draws them after each poll with new rows), and
the memory: bytes the summary holds, RSS after start-up (imports), RSS and peak RSS at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

HEADER = "id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at\n"
CHUNK = 100_000


def write_log(path: Path, rows: int, models: int, seed: int = 0) -> None:
    """A log shaped like the metric service's (1,000 rows a second), floats written with repr();
    built chunk by chunk, so writing a long one takes little memory."""
    rng = np.random.default_rng(seed)
    names = [f"model-{k}" for k in range(models)]
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(HEADER)
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            y_true = rng.normal(150, 70, n)
            y_pred = y_true + rng.normal(0, 50, n)
            which = rng.integers(0, models, n)
            handle.write(
                "".join(
                    f"3f2a9c1b7d0e-{start + i},{float(y_true[i])!r},{float(y_pred[i])!r},"
                    f"{float(abs(y_true[i] - y_pred[i]))!r},{names[which[i]]},1,"
                    f"{1.7e9 + (start + i) / 1000!r},{1.7e9 + (start + i) / 1000 + 0.004!r}\n"
                    for i in range(n)
                )
            )


def timed(label: str, action: Callable[[], object], repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    unit, scale = ("µs", 1e6) if best < 1e-3 else ("ms", 1e3)
    print(f"{label:<46} {best * scale:10.1f} {unit}", flush=True)
    return best


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """This process's resident set size now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def in_fresh_process(work: Callable[..., None], *args: Any) -> None:
    """Run `work` in a new interpreter (spawned, not forked), so its peak RSS is its own."""
    child = multiprocessing.get_context("spawn").Process(target=work, args=args)
    child.start()
    child.join()
    if child.exitcode:
        raise SystemExit(child.exitcode)


def print_memory(label: str, held: int, rows: int, started_mb: float) -> None:
    # Before, the reader kept 36 bytes a row: the error, the model's code, three more floats.
    print(f"{label:<46} {held / 1e6:10.1f} MB (36 B a row: {36 * rows / 1e6:,.0f} MB)")
    print(f"{'RSS after start-up / now / peak':<46} {started_mb:.0f} / {rss_mb():.0f} / ", end="")
    print(f"{peak_rss_mb():.0f} MB", flush=True)


def measure(log: Path) -> None:
    from mlmon.metric_log.reader import MetricLogReader
    from mlmon.render.error_distribution import render_error_groups
    from mlmon.services.plot import _render
    from mlmon.summary.log_summary import LogSummary

    started_mb = rss_mb()
    summary = LogSummary()
    reader = MetricLogReader(log, summary)
    timed("(a) first full read", reader.poll)
    rows = reader.count
    timed("(b) poll with nothing new (best of 1000)", reader.poll, repeat=1000)
    # Rows that continue the log's clock (1,000 a second): a joined_at of 0 would stretch the
    # run to 54 years and time a degenerate over-time chart.
    with log.open("a", encoding="utf-8") as handle:
        handle.write(
            "".join(
                f"x-{i},1.0,2.0,1.0,model-0,1,{1.7e9 + (rows + i) / 1000!r},"
                f"{1.7e9 + (rows + i) / 1000 + 0.004!r}\n"
                for i in range(1000)
            )
        )
    timed("    poll after 1,000 appended rows", reader.poll)

    groups = summary.error_groups()
    now = datetime.now(UTC)
    png = log.with_name("error_distribution.png")
    _render(summary, png)  # warm up fonts and caches
    sample = sum(len(group.sample) for group in groups)
    timed(
        f"(c) render both PNGs ({len(groups)} models, best of 3)",
        lambda: _render(summary, png),
        repeat=3,
    )
    timed(
        f"    error_distribution.png ({sample:,} sampled)",
        lambda: render_error_groups(groups, png, now),
        repeat=3,
    )
    timed("    render the waiting state", lambda: render_error_groups([], png, now))
    print_memory(f"(d) held by the summary at {rows:,} rows", summary.nbytes, rows, started_mb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", default="1000000,5000000", help="log sizes, comma-separated")
    parser.add_argument("--models", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "metric_log.csv"
        for rows in (int(size) for size in args.rows.split(",")):
            started = time.perf_counter()
            write_log(log, rows, args.models)
            size = log.stat().st_size / 1e6
            seconds = time.perf_counter() - started
            print(f"\nwrote {rows:,} rows ({size:.0f} MB) in {seconds:.1f} s", flush=True)
            in_fresh_process(measure, log)


if __name__ == "__main__":
    main()
