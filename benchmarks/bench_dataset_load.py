"""Time loading a user's CSV dataset, as `mlmon up --dataset` does before it streams it.

    uv run python benchmarks/bench_dataset_load.py [--rows 300000] [--repeat 3]

Writes a CSV shaped like a tabular dataset (an `id` column, 10 float features, a target),
then times `load_dataset` on it, each time without its cache, and prints the best time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from mlmon.model import dataset as dataset_module
from mlmon.model.dataset import load_dataset

FEATURES = 10


def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(rows, FEATURES + 1))
    header = ",".join(["id", *(f"x{i}" for i in range(FEATURES)), "y"])
    ids = np.arange(rows).reshape(-1, 1)
    np.savetxt(
        path,
        np.hstack([ids, table]),
        delimiter=",",
        header=header,
        comments="",
        fmt=["%d", *["%.17g"] * (FEATURES + 1)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "data.csv"
        write_csv(path, args.rows)
        size = path.stat().st_size / 1e6
        times = []
        for _ in range(args.repeat):
            cached = getattr(dataset_module, "_load_file", None)
            if cached is not None:
                cached.cache_clear()  # time the reading, not the cache
            started = time.perf_counter()
            data = load_dataset(path, "y")
            times.append(time.perf_counter() - started)
        rows, columns = data.features.shape
        print(
            f"{args.rows:,} rows ({size:.0f} MB CSV) -> {rows:,} x {columns} features: "
            f"best {min(times):.2f} s of {args.repeat} (all: "
            + ", ".join(f"{t:.2f}" for t in times)
            + ")"
        )


if __name__ == "__main__":
    main()
