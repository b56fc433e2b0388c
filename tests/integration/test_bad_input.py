"""Bad messages are dead-lettered with their reason; good ones around them flow on."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from mlmon.bus import OutMessage
from mlmon.bus.rabbit import RabbitBus
from mlmon.settings import Settings
from mlmon.wire import (
    BATCH,
    HEADER_BATCH,
    HEADER_REASON,
    decode_batch,
    encode_batch,
    encode_features,
    encode_value,
)
from tests.integration.pipeline import running, wait_for_rows

GOOD = [0.01] * 10


async def drain(bus: RabbitBus, queue: str, expected: int) -> list[tuple[bytes, str]]:
    got: list[tuple[bytes, str]] = []

    async def run() -> None:
        async for batch in bus.batches(queue, 100, 0.01):
            got.extend((d.body, str(d.headers.get(HEADER_REASON))) for d in batch)
            await bus.ack(batch)
            if len(got) >= expected:
                return

    await asyncio.wait_for(run(), 20)
    return got


async def test_bad_features_and_values_go_to_dead_letter_queues(rabbit_settings: Settings) -> None:
    """Wrong length, NaN, malformed JSON, a string value, a conflicting duplicate: each is
    dead-lettered once with a reason naming it, and the good records are all joined."""
    s = rabbit_settings
    bus = RabbitBus(s, "test-bad-input")
    await bus.connect()
    try:
        async with running(s) as stats:
            await bus.publish(
                s.queue_features,
                [
                    OutMessage(encode_features("good-1", GOOD)),
                    OutMessage(encode_features("short", [1.0, 2.0])),
                    OutMessage(b'{"id": "nan", "body": [NaN, 1, 1, 1, 1, 1, 1, 1, 1, 1]}'),
                    OutMessage(b"{not json"),
                    OutMessage(encode_features("good-2", GOOD)),
                ],
            )
            await bus.publish(
                s.queue_y_true,
                [
                    OutMessage(encode_value("good-1", 100.0)),
                    OutMessage(b'{"id": "str", "body": true}'),
                    OutMessage(encode_value("good-2", 50.0)),
                    OutMessage(encode_value("good-2", 51.0)),  # same id, another value
                ],
            )
            rows = await wait_for_rows(s.logs_dir, 2)
            dead_features = await drain(bus, s.queue_features + ".dead", 3)
            dead_truths = await drain(bus, s.queue_y_true + ".dead", 2)
        assert stats["model"].counters["dead_lettered"] == 3
        assert stats["metric"].counters["dead_lettered"] == 2
    finally:
        await bus.close()
    assert sorted(row["id"] for row in rows) == ["good-1", "good-2"]
    reasons = sorted(reason for _, reason in dead_features)
    assert any("record 'short': vector has 2 features, the model takes 10" in r for r in reasons)
    assert any("NaN" in r for r in reasons)
    assert any("malformed JSON" in r for r in reasons)
    truth_reasons = " | ".join(reason for _, reason in dead_truths)
    assert "got `bool`" in truth_reasons
    assert "duplicate id 'good-2': y_true was 50.0, now 51.0" in truth_reasons
    assert b"{not json" in [body for body, _ in dead_features]  # the original bytes, unchanged


@pytest.mark.parametrize("named", [False, True], ids=["hand-made", "named-batch"])
async def test_a_bad_row_in_a_batch_is_dead_lettered_alone(
    rabbit_settings: Settings, named: bool
) -> None:
    """A NaN row inside a batched message goes to the dead-letter queue by itself, as a batch
    of one with its reason; the other rows of the batch are predicted and joined. Named
    batches (as mlmon's features sends them, joined as a whole) behave the same; there the
    prediction whose true value was refused is an orphan at once."""
    s = rabbit_settings
    headers = {HEADER_BATCH: "b-0"} if named else {}
    features = np.full((3, 10), 0.01)
    features[1, 4] = np.nan
    truths = np.array([1.0, 2.0, np.inf])
    bus = RabbitBus(s, "test-bad-rows")
    await bus.connect()
    try:
        async with running(s) as stats:
            ids, stamps = ["b-0", "b-1", "b-2"], np.zeros(3)
            await bus.publish(
                s.queue_features,
                [OutMessage(encode_batch(ids, features, stamps), headers, BATCH)],
            )
            await bus.publish(
                s.queue_y_true, [OutMessage(encode_batch(ids, truths, stamps), headers, BATCH)]
            )
            rows = await wait_for_rows(s.logs_dir, 1)
            (dead_feature,) = await drain(bus, s.queue_features + ".dead", 1)
            (dead_truth,) = await drain(bus, s.queue_y_true + ".dead", 1)
            await asyncio.sleep(2 * s.status_interval)  # the pending gauges are refreshed
            metric = stats["metric"]
    finally:
        await bus.close()
    assert [row["id"] for row in rows] == ["b-0"]  # b-1 has no prediction, b-2 no true value
    assert "record 'b-1': non-finite number" in dead_feature[1]
    assert decode_batch(dead_feature[0]).ids == ["b-1"]
    assert "record 'b-2': non-finite value" in dead_truth[1]
    assert metric.gauges["pending_y_true"] == 1  # b-1's true value waits for a prediction
    if named:
        assert metric.counters["orphans"] == 1
        orphans = (s.logs_dir / "orphans.csv").read_text()
        assert "b-2,y_pred," in orphans
    else:
        assert metric.gauges["pending_y_pred"] == 1  # b-2 waits until it expires


async def test_a_named_batch_with_other_contents_is_refused_whole_once(
    rabbit_settings: Settings,
) -> None:
    """The same batch name again with other values is a conflict: the whole message goes to
    the dead-letter queue once, NaN row included (not that row a second time on its own);
    the same message again only counts as duplicates."""
    s = rabbit_settings
    ids, stamps = ["c-0", "c-1", "c-2"], np.zeros(3)
    first = OutMessage(
        encode_batch(ids, np.array([1.0, 2.0, 3.0]), stamps), {HEADER_BATCH: "c"}, BATCH
    )
    other = OutMessage(
        encode_batch(ids, np.array([1.0, np.nan, 4.0]), stamps), {HEADER_BATCH: "c"}, BATCH
    )
    bus = RabbitBus(s, "test-batch-conflict")
    await bus.connect()
    try:
        async with running(s) as stats:
            await bus.publish(s.queue_y_true, [first])
            await asyncio.sleep(0.5)
            await bus.publish(s.queue_y_true, [first, other])
            (dead,) = await drain(bus, s.queue_y_true + ".dead", 1)
            await asyncio.sleep(1.0)  # a second dead letter would have arrived by now
            metric = stats["metric"]
            again = await bus.depth(s.queue_y_true + ".dead")
    finally:
        await bus.close()
    assert "batch 'c' of true values was received before with other contents" in dead[1]
    assert decode_batch(dead[0]).ids == ids  # the whole message
    assert again == 0
    assert metric.counters["dead_lettered"] == 1
    assert metric.counters["duplicates"] == 3
