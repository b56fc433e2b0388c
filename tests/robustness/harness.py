"""Processes and broker helpers for the robustness suite: real services, real SIGKILLs."""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pika

from mlmon.app.supervisor import settings_env
from mlmon.bus import OutMessage
from mlmon.bus.rabbit import RabbitBus
from mlmon.bus.topology import Topology, shard_groups
from mlmon.metric_log.layout import metric_logs
from mlmon.settings import Settings
from mlmon.wire import BATCH, HEADER_BATCH, encode_batch, encode_features, encode_value
from mlmon.wire.arrow import ARROW, encode_features_arrow, encode_values_arrow

NAMED_BATCH = "named"  # `publish_records`' form: mlmon's msgpack batches, named

VECTOR = [0.01, -0.02, 0.03, 0.04, -0.05, 0.06, 0.07, -0.08, 0.09, 0.1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def model_and_metric(
    settings: Settings, log_dir: Path, metrics_port: int | None = None
) -> list[Service]:
    """A started model service and a started metric service (serving /metrics if asked)."""
    metric = settings.model_copy(update={"metrics_port": metrics_port})
    services = [Service("model", settings, log_dir), Service("metric", metric, log_dir)]
    for service in services:
        service.start()
    return services


def metric_workers(settings: Settings, log_dir: Path) -> list[Service]:
    """The metric service: one, or one per shard of MLMON_METRIC_WORKERS (not started)."""
    workers = settings.metric_workers
    if workers == 1:
        return [Service("metric", settings, log_dir)]
    return [
        Service("metric", settings.model_copy(update={"metric_shard": k}), log_dir, f"metric-{k}")
        for k in range(1, workers + 1)
    ]


def data_queues(settings: Settings) -> list[str]:
    """Every queue of the topology (shards and dead letters included), to count or delete."""
    return [spec.name for spec in Topology.from_settings(settings).all_queues]


def dead_queues(settings: Settings) -> list[str]:
    return [spec.name for spec in Topology.from_settings(settings).dead_letters]


def terminate(process: subprocess.Popen[bytes], grace: float) -> float:
    """SIGTERM, SIGKILL after `grace` seconds; how long the process took to exit (inf: killed)."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return float("inf")
    return time.monotonic() - started


class Service:
    """One mlmon service process that the test can kill and restart."""

    def __init__(
        self, name: str, settings: Settings, log_dir: Path, label: str | None = None
    ) -> None:
        self.name = name
        self.label = label or name  # its log file's name: one of several metric workers
        self.env = {**os.environ, **settings_env(settings)}
        self.log_path = log_dir / f"{self.label}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mlmon", self.name],
                env=self.env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        self.starts += 1

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def terminate(self, grace: float = 10.0) -> float:
        """SIGTERM and wait; return how long the process took to exit."""
        assert self.process is not None
        return terminate(self.process, grace)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


async def publish_records(
    settings: Settings,
    ids: list[str],
    truths: bool = True,
    features: bool = True,
    chunk: int = 500,
    batch: int = 0,
    pause: float = 0.0,
    form: str = BATCH,
) -> None:
    """Publish features and/or true values for `ids`, confirmed by the broker: one record
    per message, or `batch` records per batched message, unnamed, or named as mlmon's features
    service names them (`named`: joined whole), in mlmon's msgpack `form` or Arrow (ARROW, with
    tags); `pause` seconds between chunks spread a run over time (for something to happen
    during it)."""
    bus = RabbitBus(settings, "robustness-producer")
    await bus.connect()
    try:
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            # A sharded metric: each message holds one shard's records, as mlmon's services do.
            for group in shard_groups(part, settings.metric_workers):
                some = [part[i] for i in group]
                if features:
                    await bus.publish(settings.queue_features, _messages(some, batch, True, form))
                if truths:
                    await bus.publish(settings.queue_y_true, _messages(some, batch, False, form))
            if pause:
                await asyncio.sleep(pause)  # pacing the producer, not waiting for an outcome
    finally:
        await bus.close()


def batches_of(ids: list[str], batch: int, workers: int, chunk: int = 500) -> int:
    """How many batches of true values `publish_records` sends for `ids`."""
    return sum(
        -(-len(group) // batch)
        for start in range(0, len(ids), chunk)
        for group in shard_groups(ids[start : start + chunk], workers)
    )


def truth_of(record_id: str) -> float:
    return float(len(record_id))


def _messages(ids: list[str], batch: int, features: bool, form: str = BATCH) -> list[OutMessage]:
    """`form`: BATCH (unnamed: joined record by record), NAMED_BATCH or ARROW (named, with
    tags: joined whole)."""
    if not batch:
        if features:
            return [OutMessage(encode_features(i, VECTOR), key=i) for i in ids]
        return [OutMessage(encode_value(i, truth_of(i)), key=i) for i in ids]
    out = []
    for start in range(0, len(ids), batch):
        part = ids[start : start + batch]
        stamps = np.full(len(part), time.time())
        values = (
            np.tile(VECTOR, (len(part), 1)) if features else np.array([truth_of(i) for i in part])
        )
        if form == ARROW:
            tags = [{"region": ("eu", "us")[len(i) % 2]} for i in part]
            body = (
                encode_features_arrow(part, values, ts=stamps, tags=tags)
                if features
                else encode_values_arrow(part, values, ts=stamps)
            )
        else:
            body = encode_batch(part, values, stamps)
        headers = {} if form == BATCH else {HEADER_BATCH: part[0]}
        out.append(OutMessage(body, headers, ARROW if form == ARROW else BATCH, key=part[0]))
    return out


def join_store_rows(logs_dir: Path) -> tuple[int, int]:
    """(true values' batches, record pairs) the metric workers' join stores keep: which join
    took the records, whole batches or record by record."""
    batches = records = 0
    for path in logs_dir.rglob("join.sqlite"):
        db = sqlite3.connect(path)
        try:
            batches += db.execute("SELECT COUNT(*) FROM truth_batches").fetchone()[0]
            records += db.execute("SELECT COUNT(*) FROM joined").fetchone()[0]
        finally:
            db.close()
    return batches, records


def row_ids(logs_dir: Path) -> list[str]:
    """The ids of every row of the metric log, or of every log shard."""
    ids: list[str] = []
    for path in metric_logs(logs_dir):
        if path.exists():
            with path.open(newline="") as handle:
                ids += [row["id"] for row in csv.DictReader(handle)]
    return ids


async def wait_for_rows(logs_dir: Path, count: int, patience: float) -> int:
    """Poll the CSV (or its shards) until it holds `count` rows; return how many it holds."""
    deadline = time.monotonic() + patience
    while True:
        rows = len(row_ids(logs_dir))
        if rows >= count or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.1)


async def wait_for_ids(logs_dir: Path, expected: set[str], patience: float) -> list[str]:
    """Poll the CSV until every expected id has a row, or patience runs out."""
    deadline = time.monotonic() + patience
    while True:
        ids = row_ids(logs_dir)
        if expected <= set(ids) or time.monotonic() > deadline:
            return ids
        await asyncio.sleep(0.25)


def queue_depths(url: str, names: list[str]) -> dict[str, int]:
    return {name: counts[0] for name, counts in _queue_counts(url, names).items()}


def queue_consumers(url: str, names: list[str]) -> dict[str, int]:
    return {name: counts[1] for name, counts in _queue_counts(url, names).items()}


def _queue_counts(url: str, names: list[str]) -> dict[str, tuple[int, int]]:
    """(messages ready, consumers) of each queue, by passive declare."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        counts = {}
        for name in names:
            method = channel.queue_declare(name, passive=True).method
            counts[name] = (method.message_count, method.consumer_count)
        return counts
    finally:
        connection.close()
