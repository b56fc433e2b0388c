"""mlmon.client's throughput: one `log_prediction` call per record from a Python loop, as a
serving process makes them, until the broker has confirmed every record.

    uv run python benchmarks/bench_client.py [--records 200000] [--broker amqp://...]

Records like the issue's: 10 numeric + 3 categorical features, 2 tags, 3 class scores and a
class label. Uses throwaway queues on the broker (deleted after). Prints the calls' rate (what
the serving loop sees) and the confirmed rate (until `flush` returns).
"""

from __future__ import annotations

import argparse
import time
import uuid

from mlmon.bus.rabbit import remove_queues
from mlmon.client import Monitor
from mlmon.settings import Settings

CLASSES = ("Adelie", "Chinstrap", "Gentoo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672/")
    args = parser.parse_args()
    prefix = f"bench-client-{uuid.uuid4().hex[:8]}"
    names = {f"queue_{q}": f"{prefix}-{q}" for q in ("features", "y_true", "y_pred")}
    settings = Settings(broker_url=args.broker, **names)
    features = [
        {**{f"x{j}": float(i + j) for j in range(10)}, "island": CLASSES[i % 3],
         "sex": None if i % 10 == 0 else "f", "site": f"s{i % 5}"}
        for i in range(1000)
    ]  # fmt: skip
    scores = [dict(zip(CLASSES, (0.8, 0.1, 0.1), strict=True))] * 1000
    tags = [{"region": "eu", "device": f"d{i % 4}"} for i in range(1000)]
    monitor = Monitor(settings=settings, model="bench", version="1", max_buffered=1_000_000)
    try:
        started = time.perf_counter()
        for i in range(args.records):
            k = i % 1000
            monitor.log_prediction(
                i, CLASSES[k % 3], features=features[k], scores=scores[k], tags=tags[k],
                ts=1.7e9 + i,
            )  # fmt: skip
        called = time.perf_counter() - started
        monitor.flush(timeout=600)
        confirmed = time.perf_counter() - started
    finally:
        monitor.close()
        import asyncio

        asyncio.run(remove_queues(args.broker, [*names.values()]))
    print(f"records: {args.records:,}")
    print(f"calls:     {args.records / called:12,.0f} records/s ({called:.2f} s)")
    print(f"confirmed: {args.records / confirmed:12,.0f} records/s ({confirmed:.2f} s)")


if __name__ == "__main__":
    main()
