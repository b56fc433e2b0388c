"""Time turning dataset rows into named records, as the features service does for a dataset
with categorical columns or gaps.

    uv run python benchmarks/bench_record_bodies.py [--rows 100000] [--repeat 5]

Writes penguins-like data (an `id`, 10 numeric and 3 categorical features, about 2 % of cells
missing, a species target) as a CSV, loads it with `load_dataset`, then times
`record_bodies` and `labels` on every row in a shuffled order and prints the best rate.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from mlmon.model.columns_data import labels, record_bodies
from mlmon.model.dataset import load_dataset

NUMERIC = 10
CATEGORIES = {
    "island": ["Biscoe", "Dream", "Torgersen"],
    "sex": ["female", "male"],
    "colony": [f"colony-{i}" for i in range(12)],
}
SPECIES = ["Adelie", "Chinstrap", "Gentoo"]
MISSING = 0.02


def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.csv

    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {"id": np.arange(rows)}
    for i in range(NUMERIC):
        values = rng.normal(40 + i, 5, rows)
        values[rng.random(rows) < MISSING] = np.nan
        columns[f"x{i}"] = pa.array(values, from_pandas=True)  # NaN written as missing
    for name, choices in CATEGORIES.items():
        values = rng.choice(np.array(choices, dtype=object), rows)
        values[rng.random(rows) < MISSING] = None
        columns[name] = pa.array(values, type=pa.string())
    columns["species"] = pa.array(rng.choice(np.array(SPECIES, dtype=object), rows))
    pyarrow.csv.write_csv(pa.table(columns), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "penguins_like.csv"
        write_csv(path, args.rows)
        data = load_dataset(path, "species")
    assert data.named, "the data should stream as named records"
    rows = np.random.default_rng(1).permutation(len(data.target)).astype(np.intp)
    times = []
    bodies: list[object] = []
    for _ in range(args.repeat):
        bodies = []  # the last run's records go first, as a service's sent batch would
        started = time.perf_counter()
        bodies = record_bodies(data, rows)
        truths = labels(data, rows)
        times.append(time.perf_counter() - started)
    assert len(bodies) == len(truths) == len(rows)
    best = min(times)
    print(
        f"{len(rows):,} rows x {len(data.feature_names)} features "
        f"({NUMERIC} numeric, {len(CATEGORIES)} categorical): best {best * 1000:.0f} ms of "
        f"{args.repeat} -> {len(rows) / best:,.0f} rows/s (bodies and labels)"
    )


if __name__ == "__main__":
    main()
