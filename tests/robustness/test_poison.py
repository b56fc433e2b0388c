"""100 malformed messages of every kind among 10,000 good ones: all dead-lettered, none lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mlmon.bus import OutMessage
from mlmon.bus.rabbit import RabbitBus
from mlmon.settings import Settings
from mlmon.wire import encode_features, encode_value
from tests.robustness.harness import (
    VECTOR,
    Service,
    publish_records,
    queue_depths,
    wait_for_ids,
)
from tests.robustness.jepsen import analyse

pytestmark = pytest.mark.robustness

GOOD = 10_000
MAX_BYTES = 20_000


def poison() -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Ten each of ten kinds: (features, y_true, y_pred) bodies, 100 in all."""
    features, truths, predictions = [], [], []
    for n in range(10):
        features += [
            b'{"id": "bad-json-%d", "body": [1, 2' % n,  # malformed JSON
            b'{"body": [0.1, 0.2]}',  # missing id
            encode_features(f"short-{n}", VECTOR[:3]),  # wrong length
            b'{"id": "nan-%d", "body": [NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0]}' % n,  # NaN
            encode_features(f"huge-{n}", [0.5] * 3000),  # oversized
        ]
        truths += [
            b'{"id": "inf-%d", "body": Infinity}' % n,  # infinity
            b'{"id": "str-%d", "body": ""}' % n,  # an empty class label
            b'{"id": "bool-%d", "body": true}' % n,  # a boolean value
            encode_value(f"good-{n}", -1.0),  # same id as a good record, another value
        ]
        predictions.append(b'{"id": "nobody-%d"}' % n)  # missing body
    return features, truths, predictions


@pytest.mark.timeout(240)
async def test_poison_is_dead_lettered_and_good_records_flow(
    rabbit_settings: Settings, tmp_path: Path
) -> None:
    """Exactly the 100 bad messages reach the dead-letter queues; 10,000 rows; no restarts."""
    settings = rabbit_settings.model_copy(update={"max_message_bytes": MAX_BYTES})
    assert settings.broker_url is not None
    services = [Service(name, settings, tmp_path) for name in ("model", "metric")]
    for service in services:
        service.start()
    ids = [f"good-{n}" for n in range(GOOD)]
    bad_features, bad_truths, bad_predictions = poison()
    try:
        await publish_records(settings, ids[:5000])  # the true values of good-0..9 go first
        bus = RabbitBus(settings, "robustness-poison")
        await bus.connect()
        await bus.publish(settings.queue_features, [OutMessage(b) for b in bad_features])
        await bus.publish(settings.queue_y_true, [OutMessage(b) for b in bad_truths])
        await bus.publish(settings.queue_y_pred, [OutMessage(b) for b in bad_predictions])
        await bus.close()
        await publish_records(settings, ids[5000:])
        rows = await wait_for_ids(settings.logs_dir, set(ids), patience=120)
        await asyncio.sleep(1)  # let the last dead letters land
        dead = queue_depths(
            settings.broker_url,
            [
                settings.queue_features + ".dead",
                settings.queue_y_true + ".dead",
                settings.queue_y_pred + ".dead",
            ],
        )
        restarted = [s.name for s in services if not s.alive or s.starts != 1]
    finally:
        for service in services:
            if service.alive:
                service.terminate()
    report = analyse(ids, ids, rows, sum(dead.values()))
    print(report.table("100 poison messages among 10,000 good records"))
    assert dead == {
        settings.queue_features + ".dead": 50,
        settings.queue_y_true + ".dead": 40,
        settings.queue_y_pred + ".dead": 10,
    }
    assert (report.rows, report.lost, report.duplicated) == (GOOD, 0, 0)
    assert restarted == []
    logged = "\n".join(s.log_path.read_text() for s in services)
    assert logged.count("dead-lettering") == 100  # each logged once, with its id
    assert "record 'short-3': vector has 3 features" in logged
