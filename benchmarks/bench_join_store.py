"""The record join's durable store, alone: CPU microseconds a record for each step a record
takes when its label comes late (a served model's usual case), in this process.

    uv run python benchmarks/bench_join_store.py [--records 100000] [--batch 5000]

A prediction that waits on disk costs a look-up of its key (`facts`, nothing found), its row
written (`add_pending`) and a commit; its label later costs a look-up that finds it (`facts`),
then `apply` (the waiting row deleted, the joined pair recorded for redeliveries) and a
commit. Prints each step's CPU time per record (process time, so the fsyncs' wait is not in
it) and their sum: the store's share of the metric's CPU for a record joined through disk.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mlmon.join.store import Changes, JoinStore

# A served classifier's scores and tags cells, as the record join stores them with the row.
EXTRA = '"{""Adelie"":0.1,""Chinstrap"":0.2,""Gentoo"":0.7}","{""region"":""eu""}"'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-join-store-") as folder:
        store = JoinStore(Path(folder) / "join.sqlite", max_wait=3600.0)
        keys = [f"r{i}" for i in range(args.records)]
        chunks = [keys[i : i + args.batch] for i in range(0, len(keys), args.batch)]

        def pending(chunk: list[str]) -> None:
            rows = [(key, "served", "1", 1.0, 1.0, 2.0, EXTRA) for key in chunk]
            store.add_pending([], rows)
            store.commit({})

        def joined(chunk: list[str]) -> None:
            changes = Changes()
            changes.predictions_met = [(key,) for key in chunk]
            changes.joined = [(key, "served", 1.0, 3.0, 2.0, None, 3.0) for key in chunk]
            store.apply(changes)
            store.commit({})

        steps: list[tuple[str, Callable[[list[str]], object]]] = [
            ("facts, prediction (key new)", store.facts),
            ("add_pending + commit", pending),
            ("facts, label (prediction found)", store.facts),
            ("apply + commit (delete, joined row)", joined),
        ]
        total = 0.0
        print(f"{args.records:,} records in batches of {args.batch:,}; CPU us a record:")
        for name, step in steps:
            started = time.process_time()
            for chunk in chunks:
                step(chunk)
            micros = (time.process_time() - started) / args.records * 1e6
            total += micros
            print(f"  {name:<38} {micros:6.2f}")
        print(f"  {'a record joined through disk':<38} {total:6.2f}")
        store.close()


if __name__ == "__main__":
    main()
