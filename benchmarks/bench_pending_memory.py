"""Memory of the metric service with many predictions waiting for a late label.

Starts `mlmon metric` against RabbitMQ, publishes N predictions (batched, named as mlmon's
model names them, or with --unnamed joined record by record) whose true values never come,
waits until the service reports them all pending, and prints its resident memory (VmRSS, peak
VmHWM) before and after. Pending halves live in SQLite on disk, so memory should stay flat
however many wait.

    uv run python benchmarks/bench_pending_memory.py [--records 1000000] [--unnamed]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pika

from mlmon.app.supervisor import settings_env
from mlmon.bus import OutMessage
from mlmon.bus.rabbit import RabbitBus
from mlmon.settings import Settings
from mlmon.wire import BATCH, HEADER_BATCH, HEADER_MODEL, encode_batch

BATCH_SIZE = Settings().batch_size


def memory_mb(pid: int) -> tuple[float, float]:
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def pending(state_dir: Path) -> int:
    total = 0
    for path in (state_dir / "status").glob("metric.*.json"):
        try:
            total += int(json.loads(path.read_text())["gauges"].get("pending_y_pred", 0))
        except (OSError, ValueError, KeyError):
            continue
    return total


async def publish(settings: Settings, records: int, named: bool) -> None:
    bus = RabbitBus(settings, "bench-pending")
    await bus.connect()
    try:
        for start in range(0, records, BATCH_SIZE * 20):
            messages = []
            for first in range(start, min(start + BATCH_SIZE * 20, records), BATCH_SIZE):
                ids = [f"late-{n}" for n in range(first, min(first + BATCH_SIZE, records))]
                body = encode_batch(ids, np.full(len(ids), 150.0), np.full(len(ids), time.time()))
                name = {HEADER_BATCH: ids[0]} if named else {}
                messages.append(OutMessage(body, {HEADER_MODEL: "bench", **name}, BATCH))
            await bus.publish(settings.queue_y_pred, messages)
    finally:
        await bus.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--unnamed", action="store_true", help="the record-by-record join")
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as logs:
        settings = Settings(
            broker_url=args.url,
            logs_dir=Path(logs),
            queue_features=f"mem-{tag}-f",
            queue_y_true=f"mem-{tag}-t",
            queue_y_pred=f"mem-{tag}-p",
            status_interval=0.5,
        )
        env = {**os.environ, **settings_env(settings)}
        metric = subprocess.Popen(
            [sys.executable, "-m", "mlmon", "metric"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while pending(settings.state_dir) == 0 and not list(
                (settings.state_dir / "status").glob("metric.*.json")
            ):
                time.sleep(0.2)
            idle_rss, _ = memory_mb(metric.pid)
            started = time.monotonic()
            asyncio.run(publish(settings, args.records, not args.unnamed))
            while pending(settings.state_dir) < args.records:
                time.sleep(0.5)
            elapsed = time.monotonic() - started
            rss, peak = memory_mb(metric.pid)
            disk = sum(p.stat().st_size for p in settings.state_dir.glob("join.sqlite*")) / 2**20
        finally:
            metric.send_signal(signal.SIGTERM)
            metric.wait(30)
            connection = pika.BlockingConnection(pika.URLParameters(args.url))
            channel = connection.channel()
            for name in (settings.queue_features, settings.queue_y_true, settings.queue_y_pred):
                channel.queue_delete(name)
                channel.queue_delete(name + ".dead")
            connection.close()
    print(
        f"records pending  {args.records:,} in {'unnamed' if args.unnamed else 'named'} "
        f"batches of {BATCH_SIZE:,} (stored in {elapsed:.1f} s, "
        f"{args.records / elapsed:,.0f} halves/s)"
    )
    print(
        f"metric RSS       idle {idle_rss:.0f} MB -> {rss:.0f} MB with all pending "
        f"(peak {peak:.0f} MB)"
    )
    print(f"join store       {disk:.0f} MB on disk")


if __name__ == "__main__":
    main()
