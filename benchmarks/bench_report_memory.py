"""Peak memory and time of `mlmon report --from-log` on a long metric log.

    uv run python benchmarks/bench_report_memory.py [--rows 1000000] [--models 2] [--keep DIR]

Writes a log shaped like the metric service's (joined an hour ago, so the time window is empty
and the output does not depend on when it runs), then runs the real command line in a fresh
process, table and --json, and prints each run's wall time and peak RSS (the child's
ru_maxrss). With --keep DIR the log and both outputs stay in DIR, to compare two versions.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HEADER = "id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at\n"
CHUNK = 100_000


def write_log(path: Path, rows: int, models: int, seed: int = 0) -> None:
    """1,000 rows a second ending an hour ago, floats written with repr(), chunk by chunk."""
    rng = np.random.default_rng(seed)
    names = [f"model-{k}" for k in range(models)]
    start_at = time.time() - 3600 - rows / 1000
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(HEADER)
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            y_true = rng.normal(150, 70, n)
            which = rng.integers(0, models, n)
            y_pred = y_true + rng.normal(0, 50, n) * (1 + which)  # model k errs k + 1 times more
            handle.write(
                "".join(
                    f"id-{start + i},{float(y_true[i])!r},{float(y_pred[i])!r},"
                    f"{float(abs(y_true[i] - y_pred[i]))!r},{names[which[i]]},1,"
                    f"{start_at + (start + i) / 1000!r},{start_at + (start + i) / 1000 + 0.004!r}\n"
                    for i in range(n)
                )
            )


def run_report(logs: Path, *extra: str) -> tuple[str, float, float]:
    """The command's output, wall seconds and peak RSS (MB), in a child process of its own."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "mlmon", "report", "--from-log", "--logs", str(logs), *extra],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        print("(peak RSS no higher than an earlier child's: run each report in its own process)")
    return result.stdout, seconds, peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="a directory to leave the log and outputs in")
    parser.add_argument("--json", action="store_true", help="measure the --json run instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        logs = args.keep or Path(scratch)
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / "metric_log.csv"
        if not log.exists():
            write_log(log, args.rows, args.models)
        size = log.stat().st_size / 1e6
        flags = ("--json",) if args.json else ()
        output, seconds, peak = run_report(logs, *flags)
        print(f"metric_log.csv: {args.rows:,} rows, {size:.0f} MB")
        print(f"mlmon report --from-log {' '.join(flags)}: {seconds:.2f} s, peak RSS {peak:.0f} MB")
        if args.keep:
            (logs / ("report.json" if args.json else "report.txt")).write_text(output)


if __name__ == "__main__":
    main()
