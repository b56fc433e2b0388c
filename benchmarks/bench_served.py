"""A model mlmon does not run: rich records batched as Arrow, through `mlmon up --no-model`.

    uv run python benchmarks/bench_served.py [--records 500000] [--batch 5000] [--url URL]

Starts `mlmon up --no-model --broker URL` (metric and plot processes, no dashboard) on fresh
queues, then publishes, with confirms, pre-encoded Arrow batches of predictions (a class label,
3 class scores, 2 tags, 10 numeric + 3 categorical features, ts) and of their labels, half of
the labels before their predictions. Records/s = rows / (last row's joined_at - first
publish), from metric_log.csv once every row is there, durable and exactly once (the ids are
checked). Prints the metric process's CPU seconds per 100,000 records too.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from mlmon.bus import OutMessage
from mlmon.bus.rabbit import RabbitBus, remove_queues
from mlmon.settings import Settings
from mlmon.wire.arrow import ARROW, encode_values_arrow

CLASSES = ("Adelie", "Chinstrap", "Gentoo")


def batches(n: int, size: int) -> tuple[list[bytes], list[bytes]]:
    rng = np.random.default_rng(0)
    predictions, labels = [], []
    for start in range(0, n, size):
        ids = [f"r{i}" for i in range(start, min(start + size, n))]
        k = len(ids)
        scores = rng.dirichlet(np.ones(3), k)
        predicted = [CLASSES[j] for j in scores.argmax(axis=1)]
        features: dict[str, np.ndarray] = {f"x{j}": rng.normal(size=k) for j in range(10)}
        features["island"] = rng.choice(np.array(["Biscoe", "Dream", "Torgersen"], dtype=object), k)
        features["sex"] = rng.choice(np.array(["female", "male", None], dtype=object), k)
        features["site"] = rng.choice(np.array([f"s{j}" for j in range(8)], dtype=object), k)
        tags = [{"region": "eu" if i % 2 else "us", "device": f"d{i % 4}"} for i in range(k)]
        predictions.append(
            encode_values_arrow(
                ids,
                predicted,
                ts=np.full(k, time.time()),
                tags=tags,
                scores=(scores, CLASSES),
                model="served",
                version="1",
                features=features,
            )
        )
        labels.append(encode_values_arrow(ids, [CLASSES[j] for j in rng.integers(0, 3, k)]))
    return predictions, labels


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for child in [pid, *_descendants(pid)]:
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _descendants(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if parent == pid:
                found += [int(entry.name), *_descendants(int(entry.name))]
    return found


async def publish(settings: Settings, predictions: list[bytes], labels: list[bytes]) -> float:
    bus = RabbitBus(settings, "bench-served")
    await bus.connect()
    try:
        started = time.time()
        half = len(labels) // 2
        await bus.publish(settings.queue_y_true, [OutMessage(b, {}, ARROW) for b in labels[:half]])
        await bus.publish(settings.queue_y_pred, [OutMessage(b, {}, ARROW) for b in predictions])
        await bus.publish(settings.queue_y_true, [OutMessage(b, {}, ARROW) for b in labels[half:]])
        return started
    finally:
        await bus.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/")
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    names = {f"queue_{q}": f"bench-served-{tag}-{q}" for q in ("features", "y_true", "y_pred")}
    settings = Settings(broker_url=args.url, **names)
    logs = Path(tempfile.mkdtemp(prefix="bench-served-"))
    predictions, labels = batches(args.records, args.batch)
    env = {**os.environ, **{f"MLMON_{k.upper()}": v for k, v in names.items()}}
    out = (logs / "up.out").open("wb")
    up = subprocess.Popen(
        [sys.executable, "-m", "mlmon", "up", "--no-model", "--broker", args.url, "--logs",
         str(logs), "--no-dashboard"], env=env, stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        while b"ready: publish" not in (logs / "up.out").read_bytes():
            time.sleep(0.2)
        cpu0 = cpu_seconds(up.pid)
        started = asyncio.run(publish(settings, predictions, labels))
        log = logs / "metric_log.csv"
        while sum(1 for _ in log.open()) - 1 < args.records:
            time.sleep(0.5)
        cpu = cpu_seconds(up.pid) - cpu0
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(60)
        asyncio.run(remove_queues(args.url, list(names.values())))
    with log.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    ids = {row["id"] for row in rows}
    last = max(float(row["joined_at"]) for row in rows)
    print(f"records: {len(rows):,} rows, {len(ids):,} distinct ids (of {args.records:,} sent)")
    print(f"records/s: {len(rows) / (last - started):,.0f} (first publish to last row joined)")
    print(f"metric+plot CPU: {cpu:.1f} s, {100_000 * cpu / len(rows):.2f} s per 100,000 records")
    print(f"logs: {logs}")


if __name__ == "__main__":
    main()
