"""The metric service alone: how many records/s it joins, with no broker and no other process.

Feeds pre-encoded batches (true values, and the predictions for the same ids a few messages
later, as the model sends them) through the in-process bus into a real MetricService writing a
real metric_log.csv with fsync and its SQLite store, and times it until every row is written.
The bus holds at most `--capacity` messages per queue, as the broker's prefetch would.

    uv run python benchmarks/bench_metric.py [--records 200000] [--batch 2000] [--lag 4]
        [--capacity 64] [--repeat 3] [--unnamed | --single | --rich]

`--single`: one record per message in the seeds' JSON (the single wire form), `--batch`
messages per publish, the queues holding up to `--prefetch` messages. `--rich`: Arrow batches
of a classifier's records (a class label, 3 class scores, 2 tags), named as mlmon's features
and model services name them.

Profile it with `uv run --with py-spy py-spy record -o metric.svg -- python
benchmarks/bench_metric.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from mlmon.bus import OutMessage
from mlmon.bus.memory import MemoryBus
from mlmon.ops.status import ServiceStats
from mlmon.services.metric.service import MetricService
from mlmon.settings import Settings
from mlmon.wire import (
    BATCH,
    HEADER_BATCH,
    HEADER_MODEL,
    HEADER_MODEL_VERSION,
    encode_batch,
    encode_value,
    sent_at_header,
)
from mlmon.wire.arrow import ARROW, encode_values_arrow


def messages(
    records: int, batch: int, named: bool = True, seed: int = 0
) -> tuple[list[OutMessage], list[OutMessage]]:
    """True values and predictions, batch by batch, with the ids (and, `named`, the batch
    names) mlmon's features and model give; unnamed batches are joined record by record."""
    rng = np.random.default_rng(seed)
    truths, predictions = [], []
    for first in range(0, records, batch):
        size = min(batch, records - first)
        ids = [f"5f3a9c1b2d4e-{n}" for n in range(first, first + size)]
        name = {HEADER_BATCH: ids[0]} if named else {}
        headers = {HEADER_MODEL: "bench", HEADER_MODEL_VERSION: "1", **name}
        y_true = rng.normal(150, 50, size)
        sent_at = np.full(size, time.time())
        truths.append(OutMessage(encode_batch(ids, y_true, sent_at), name, BATCH))
        y_pred = y_true + rng.normal(0, 20, size)
        predictions.append(OutMessage(encode_batch(ids, y_pred, sent_at), headers, BATCH))
    return truths, predictions


def rich_messages(
    records: int, batch: int, seed: int = 0
) -> tuple[list[OutMessage], list[OutMessage]]:
    """A classifier's records as Arrow batches: labels, three class scores, two tags."""
    rng = np.random.default_rng(seed)
    classes = ("Adelie", "Chinstrap", "Gentoo")
    regions, devices = ("eu", "us", "apac"), ("ios", "android", "web", "tv")
    truths, predictions = [], []
    for first in range(0, records, batch):
        size = min(batch, records - first)
        ids = [f"5f3a9c1b2d4e-{n}" for n in range(first, first + size)]
        name = {HEADER_BATCH: ids[0]}
        sent_at = np.full(size, time.time())
        truth = rng.integers(0, 3, size)
        scores = rng.dirichlet((1.0, 1.0, 1.0), size)
        tags = [
            {"region": regions[i % 3], "device": devices[i % 4]} for i in range(first, first + size)
        ]
        truths.append(
            OutMessage(
                encode_values_arrow(ids, [classes[t] for t in truth], ts=sent_at), name, ARROW
            )
        )
        body = encode_values_arrow(
            ids, [classes[p] for p in scores.argmax(axis=1)], ts=sent_at, tags=tags,
            scores=(np.round(scores, 6), classes), model="bench", version="1",
        )  # fmt: skip
        predictions.append(OutMessage(body, name, ARROW))
    return truths, predictions


def single_messages(records: int, seed: int = 0) -> tuple[list[OutMessage], list[OutMessage]]:
    """One message per record, as the seeds' services and mlmon's single wire form send them."""
    rng = np.random.default_rng(seed)
    y_true = rng.normal(150, 50, records)
    y_pred = y_true + rng.normal(0, 20, records)
    sent = sent_at_header(time.time())
    model = {HEADER_MODEL: "bench", HEADER_MODEL_VERSION: "1", **sent}
    ids = [f"5f3a9c1b2d4e-{n}" for n in range(records)]
    truths = [
        OutMessage(encode_value(i, v), sent) for i, v in zip(ids, y_true.tolist(), strict=True)
    ]
    predictions = [
        OutMessage(encode_value(i, v), model) for i, v in zip(ids, y_pred.tolist(), strict=True)
    ]
    return truths, predictions


def chunked(messages: list[OutMessage], size: int) -> list[list[OutMessage]]:
    return [messages[start : start + size] for start in range(0, len(messages), size)]


async def feed(
    bus: MemoryBus,
    settings: Settings,
    truths: list[list[OutMessage]],
    predictions: list[list[OutMessage]],
    lag: int,
) -> None:
    """Each publish of true values, and the predictions `lag` publishes behind it."""
    for index, truth in enumerate(truths):
        await bus.publish(settings.queue_y_true, truth)
        if index >= lag:
            await bus.publish(settings.queue_y_pred, predictions[index - lag])
    for prediction in predictions[max(len(truths) - lag, 0) :]:
        await bus.publish(settings.queue_y_pred, prediction)


async def one_run(args: argparse.Namespace, logs: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, rows) for one run on a fresh store and log."""
    settings = Settings(logs_dir=logs, prefetch=args.prefetch, status_interval=1.0)
    if args.single:
        truths, predictions = (chunked(m, args.batch) for m in single_messages(args.records))
        bus = MemoryBus(capacity=args.prefetch)
    else:
        if args.rich:
            batches = rich_messages(args.records, args.batch)
        else:
            batches = messages(args.records, args.batch, named=not args.unnamed)
        truths, predictions = ([[m] for m in side] for side in batches)
        bus = MemoryBus(capacity=args.capacity)
    stats = ServiceStats("metric")
    service = MetricService(settings, bus, stats)
    cpu0 = time.process_time()
    started = time.perf_counter()
    task = asyncio.create_task(service.run())
    await feed(bus, settings, truths, predictions, args.lag)
    while stats.counters["joined"] < args.records and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.001)  # the service has no "joined N" event to wait on
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    await bus.stop_consuming()
    await task
    return wall, cpu, int(stats.counters["joined"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument(
        "--unnamed", action="store_true", help="batches without names: the record-by-record join"
    )
    parser.add_argument(
        "--single", action="store_true", help="one record per message, the seeds' JSON"
    )
    parser.add_argument(
        "--rich", action="store_true", help="Arrow batches: labels, class scores, tags"
    )
    parser.add_argument("--lag", type=int, default=4, help="predictions trail by N batches")
    parser.add_argument("--capacity", type=int, default=64, help="messages queued per queue")
    parser.add_argument("--prefetch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rates = []
    for run in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="mlmon-bench-metric-") as logs:
            wall, cpu, rows = asyncio.run(one_run(args, Path(logs)))
            lines = sum(1 for _ in (Path(logs) / "metric_log.csv").open()) - 1
        rates.append(rows / wall)
        print(
            f"run {run + 1}: {rows:,} rows ({lines:,} in the CSV) in {wall:.2f}s: "
            f"{rows / wall:,.0f} records/s, {cpu / rows * 1e6:.2f} us CPU/record"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"median {statistics.median(rates):,.0f} records/s "
        f"(min {min(rates):,.0f}, max {max(rates):,.0f}); peak RSS {peak:.0f} MB"
    )


if __name__ == "__main__":
    main()
