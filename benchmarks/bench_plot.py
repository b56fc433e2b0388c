"""Time the plot service's work on a 1,000,000-row metric log.

    uv run python benchmarks/bench_plot.py [--rows N] [--models K]

Prints: the first full read, an empty poll, a small append, and renders (single and per model).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from mlmon.error_log import ErrorLogReader
from mlmon.error_plot import render_error_distribution

HEADER = "id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at\n"


def write_log(path: Path, rows: int, models: int, seed: int = 0) -> None:
    """A log shaped like the metric service's, floats written with repr()."""
    rng = np.random.default_rng(seed)
    y_true = rng.normal(150, 70, rows)
    y_pred = y_true + rng.normal(0, 50, rows)
    names = [f"model-{k}" for k in range(models)]
    which = rng.integers(0, models, rows)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(HEADER)
        for start in range(0, rows, 100_000):
            handle.write(
                "".join(
                    f"3f2a9c1b7d0e-{i},{float(y_true[i])!r},{float(y_pred[i])!r},"
                    f"{float(abs(y_true[i] - y_pred[i]))!r},{names[which[i]]},1,"
                    f"{1.7e9 + i / 1000!r},{1.7e9 + i / 1000 + 0.004!r}\n"
                    for i in range(start, min(start + 100_000, rows))
                )
            )


def timed(label: str, action: Callable[[], object], repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    unit, scale = ("µs", 1e6) if best < 1e-3 else ("ms", 1e3)
    print(f"{label:<46} {best * scale:10.1f} {unit}")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "metric_log.csv"
        started = time.perf_counter()
        write_log(log, args.rows, args.models)
        size = log.stat().st_size / 1e6
        print(f"wrote {args.rows:,} rows ({size:.0f} MB) in {time.perf_counter() - started:.1f} s")

        reader = ErrorLogReader(log)
        timed(f"(a) first full read of {args.rows:,} rows", reader.poll)
        assert reader.count == args.rows, reader
        timed("(b) poll with nothing new (best of 1000)", reader.poll, repeat=1000)
        with log.open("a", encoding="utf-8") as handle:
            handle.write("".join(f"x-{i},1.0,2.0,1.0,model-0,1,0.0,0.0\n" for i in range(1000)))
        timed("    poll after 1,000 appended rows", reader.poll)

        errors, models = reader.errors, reader.models
        now = datetime.now(UTC)
        png = Path(directory) / "error_distribution.png"
        render_error_distribution(errors[:1000], png, now)  # warm up fonts and caches
        timed(
            f"(c) render {len(errors):,} errors (best of 3)",
            lambda: render_error_distribution(errors, png, now),
            repeat=3,
        )
        timed(
            f"    render per model ({len(reader.model_names)} models, best of 3)",
            lambda: render_error_distribution(errors, png, now, models),
            repeat=3,
        )
        timed(
            "    render the waiting state", lambda: render_error_distribution(np.empty(0), png, now)
        )


if __name__ == "__main__":
    main()
