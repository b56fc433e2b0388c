"""The read cost of a metric log whose rows carry tags: the dashboard's first refresh and
`mlmon report`, on a log of ROWS rows (two tag keys, a few values each).

    uv run python benchmarks/bench_tag_read.py [--rows 200000] [--tags/--no-tags]

Prints CPU seconds per read (this process's, so other load does not count), best of three.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

REGIONS = ("eu", "us", "apac", "latam")
DEVICES = ("ios", "android", "web")


def write_log(path: Path, rows: int, tags: bool) -> None:
    rng = random.Random(0)
    header = "id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at,scores,tags\n"
    lines = [header]
    for i in range(rows):
        y_true = rng.gauss(150, 50)
        y_pred = y_true + rng.gauss(0, 40)
        cell = ""
        if tags:
            region, device = rng.choice(REGIONS), rng.choice(DEVICES)
            cell = f'"{{""region"":""{region}"",""device"":""{device}""}}"'
        t = 1.7e9 + i / 1000
        error = abs(y_pred - y_true)
        lines.append(f"{i},{y_true:.3f},{y_pred:.3f},{error:.3f},m,1,{t:.3f},{t:.3f},,{cell}\n")
    path.write_text("".join(lines))


def best(run: object, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        # CPU time, not wall time: the figure is the read's own cost, whatever else runs.
        started = time.process_time()
        run()  # type: ignore[operator]
        times.append(time.process_time() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--tags", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()

    from mlmon.dashboard.state import DashboardState
    from mlmon.ops.report import read_log

    with tempfile.TemporaryDirectory() as directory:
        logs = Path(directory)
        write_log(logs / "metric_log.csv", args.rows, args.tags)
        dashboard = best(lambda: DashboardState(logs).refresh([]))
        report = best(lambda: read_log(logs, time.time()))
    what = "with tags" if args.tags else "without tags"
    print(
        f"{args.rows:,} rows {what}: dashboard first refresh {dashboard:.3f} s, "
        f"report read {report:.3f} s"
    )


if __name__ == "__main__":
    main()
