"""Predictions counted per bucket of event time through the real broker: exact over repeats and
SIGKILLs of the metric service, and the label completeness climbing to 1 as labels land."""

from __future__ import annotations

import asyncio
import csv
import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mlmon.bus import OutMessage
from mlmon.bus.rabbit import RabbitBus
from mlmon.join.counts import BUCKET_SECONDS, NO_TIME, read_predicted
from mlmon.metric_log.reader import MetricLogReader
from mlmon.settings import Settings
from mlmon.summary.by_time import BY_TIME_COLUMNS, ByTimeSink, by_time_rows, write_by_time
from mlmon.wire import BATCH, HEADER_BATCH, HEADER_MODEL, decode_batch, encode_batch, encode_value
from tests.robustness.harness import Service, wait_for_ids

pytestmark = pytest.mark.robustness

MODEL = "m"
BUCKETS = 4
BATCHES, BATCH_ROWS = 8, 250  # named batches: the batch join
SINGLES, UNTIMED = 400, 50  # single-record messages: the record join
REPEATED_SINGLES = 10
PREDICTION_CHUNKS = 20


async def _publish(settings: Settings, queue: str, messages: list[OutMessage]) -> None:
    bus = RabbitBus(settings, "predicted-counts-producer")
    await bus.connect()
    try:
        await bus.publish(queue, messages)
    finally:
        await bus.close()


async def _wait(check: Callable[[], bool], patience: float = 30.0) -> None:
    """Until `check()` holds or patience runs out (the caller asserts it then)."""
    deadline = time.monotonic() + patience
    while True:
        if check() or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.2)


@pytest.mark.timeout(120)
async def test_counts_exact_and_completeness_climbs_over_repeats_and_sigkills(
    rabbit_settings: Settings, tmp_path: Path
) -> None:
    settings = rabbit_settings
    rng = random.Random(18)
    t0 = math.floor(time.time() / BUCKET_SECONDS) * BUCKET_SECONDS - 3600  # an hour back

    def stamp(index: int) -> float:
        return t0 + (index % BUCKETS) * BUCKET_SECONDS + rng.uniform(0, BUCKET_SECONDS - 1)

    truth: dict[str, float] = {}
    sent: dict[str, float | None] = {}
    batches: list[tuple[str, list[str]]] = []
    predictions: list[OutMessage] = []
    for b in range(BATCHES):
        ids = [f"b{b}-{n}" for n in range(BATCH_ROWS)]
        stamps = np.array([stamp(b) for _ in ids])
        values = np.array([rng.uniform(0, 100) for _ in ids])
        truth.update(zip(ids, values.tolist(), strict=True))
        sent.update(zip(ids, stamps.tolist(), strict=True))
        headers = {HEADER_BATCH: f"batch-{b}", HEADER_MODEL: MODEL}
        body = encode_batch(ids, values + 1.0, stamps)
        predictions.append(OutMessage(body, headers, BATCH))
        batches.append((f"batch-{b}", ids))
    for n in range(SINGLES + UNTIMED):
        record_id = f"s-{n}"
        truth[record_id] = float(n)
        ts = stamp(n) if n < SINGLES else None
        sent[record_id] = ts
        body = {"id": record_id, "body": n + 2.0, **({"ts": ts} if ts else {})}
        predictions.append(OutMessage(json.dumps(body).encode(), {HEADER_MODEL: MODEL}))
    # Repeats as a broker or a producer makes them: a whole batch and single records again.
    repeats = [predictions[0], *predictions[BATCHES : BATCHES + REPEATED_SINGLES]]
    expected = Counter(
        NO_TIME if s is None else int(s // BUCKET_SECONDS * BUCKET_SECONDS) for s in sent.values()
    )

    metric = Service("metric", settings, tmp_path)
    metric.start()
    try:
        stream = predictions + repeats
        rng.shuffle(stream)
        chunks = [stream[i::PREDICTION_CHUNKS] for i in range(PREDICTION_CHUNKS)]
        await _publish(settings, settings.queue_y_pred, chunks[0])
        await _wait(lambda: bool(_counts(settings)))
        assert _counts(settings), "the metric service never counted"

        bus = RabbitBus(settings, "predicted-counts-stream")
        await bus.connect()
        try:
            for number, chunk in enumerate(chunks[1:]):
                await bus.publish(settings.queue_y_pred, chunk)
                await asyncio.sleep(0.05)  # a stream: the metric holds the last ones unlabelled
                if number == PREDICTION_CHUNKS // 2:  # mid-stream, some held in memory
                    metric.kill()
                    metric.start()
        finally:
            await bus.close()
        await _wait(lambda: _counts(settings) == dict(expected))
        assert _counts(settings) == dict(expected)  # repeats and the kill counted nothing twice

        sink = ByTimeSink()
        reader = MetricLogReader(settings.logs_dir / "metric_log.csv", sink)
        labels: list[OutMessage] = [
            OutMessage(
                encode_batch(ids, np.array([truth[i] for i in ids]), np.full(len(ids), np.nan)),
                {HEADER_BATCH: name},
                BATCH,
            )
            for name, ids in batches
        ]
        labels += [OutMessage(encode_value(i, truth[i])) for i in truth if i.startswith("s-")]
        rng.shuffle(labels)
        chunks = [labels[i::4] for i in range(4)]
        labelled: set[str] = set()
        last = {bucket: 0.0 for bucket in expected if bucket != NO_TIME}
        for number, chunk in enumerate(chunks):
            await _publish(settings, settings.queue_y_true, chunk)
            if number == 2:  # labels landing meanwhile, held halves lost with it
                await asyncio.sleep(rng.uniform(0.1, 0.5))
                metric.kill()
                metric.start()
            labelled |= {i for message in chunk for i in _ids(message)}
            rows = await wait_for_ids(settings.logs_dir, labelled, patience=30)
            assert len(rows) == len(set(rows)) == len(labelled)  # each label joined once
            reader.poll()
            sink.by_time.set_predicted(read_predicted(settings.state_dir))
            completeness = {
                b["start"]: b["completeness"] for b in sink.by_time.buckets() if b["model"] == MODEL
            }
            assert completeness.keys() == last.keys()
            for bucket, value in completeness.items():
                assert value >= last[bucket]  # labels only add up
                last[bucket] = value
        assert last == {bucket: 1.0 for bucket in last}
        assert _counts(settings) == dict(expected)  # the kill and the labels changed nothing
        assert sink.by_time.untimed == UNTIMED
    finally:
        if metric.alive:
            metric.terminate()
    path = tmp_path / "quality_by_time.csv"
    write_by_time(path, by_time_rows(sink.by_time.buckets(), time.time(), 60.0))
    with path.open(newline="") as handle:
        written = list(csv.DictReader(handle))
    assert tuple(written[0]) == BY_TIME_COLUMNS
    assert [int(row["predicted"]) for row in written] == [
        expected[int(row["bucket_start"])] for row in written
    ]
    assert {row["completeness"] for row in written} == {"1.0"}


def _counts(settings: Settings) -> dict[int, int]:
    return (read_predicted(settings.state_dir) or {}).get(MODEL, {})


def _ids(message: OutMessage) -> list[str]:
    if message.content_type == BATCH:
        return [str(i) for i in decode_batch(message.body).ids]
    return [json.loads(message.body)["id"]]
