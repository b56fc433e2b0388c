"""Topology: durable quorum queues with dead-letter targets, or the seeds' plain queues."""

from __future__ import annotations

import zlib
from collections import Counter

import pytest

from mlmon.bus.topology import Topology, shard_groups, shard_of
from mlmon.errors import BrokerError
from mlmon.settings import Settings
from mlmon.wire import RecordId, record_key


def test_default_queues_are_durable_with_dead_letters() -> None:
    """Each data queue is durable, dead-letters to <queue>.dead and limits redeliveries."""
    topology = Topology.from_settings(Settings())
    assert [q.name for q in topology.all_queues] == [
        "features",
        "y_true",
        "y_pred",
        "features.dead",
        "y_true.dead",
        "y_pred.dead",
    ]
    for spec in (topology.features, topology.y_true, topology.y_pred):
        assert spec.durable
        assert spec.arguments["x-dead-letter-routing-key"] == spec.name + ".dead"
        assert spec.arguments["x-queue-type"] == "quorum"
        assert spec.arguments["x-delivery-limit"] == 20
    assert all(q.durable for q in topology.dead_letters)


def test_seed_compatible_queues_are_declared_like_the_seeds() -> None:
    """With seed_compatible the data queues are plain: non-durable, no arguments."""
    topology = Topology.from_settings(Settings(seed_compatible=True))
    for spec in (topology.features, topology.y_true, topology.y_pred):
        assert not spec.durable
        assert spec.arguments == {}


def test_classic_queues_have_no_delivery_limit() -> None:
    """Classic queues cannot count deliveries, so no limit argument is sent."""
    topology = Topology.from_settings(Settings(queue_type="classic"))
    assert "x-delivery-limit" not in topology.features.arguments


def test_a_challenger_reads_its_own_queue_bound_to_the_features_fanout() -> None:
    champion = Topology.from_settings(Settings())
    assert champion.features_exchange == "features"
    assert [q.name for q in champion.fanned_out] == ["features"]
    challenger = Topology.from_settings(Settings(model_queue="features.b"))
    assert [q.name for q in challenger.fanned_out] == ["features", "features.b"]
    assert challenger.challenger is not None
    assert challenger.challenger.durable
    names = [q.name for q in challenger.all_queues]
    assert "features.b.dead" in names  # its poison is dead-lettered like the champion's


def test_several_metric_workers_get_a_queue_pair_each() -> None:
    """MLMON_METRIC_WORKERS=3: y_true and y_pred become three shard queues each, with their
    dead-letter queues; the features queue stays one."""
    topology = Topology.from_settings(Settings(broker_url="amqp://x/", metric_workers=3))
    names = [q.name for q in topology.all_queues]
    assert names[:7] == [
        "features",
        "y_true.1-of-3",
        "y_true.2-of-3",
        "y_true.3-of-3",
        "y_pred.1-of-3",
        "y_pred.2-of-3",
        "y_pred.3-of-3",
    ]
    assert "y_true" not in names
    assert "y_true.2-of-3.dead" in names
    assert "features.dead" in names


def test_both_halves_of_a_record_go_to_the_same_shard() -> None:
    """The fixed shard map is a function of the key alone, the same for y_true and y_pred."""
    topology = Topology.from_settings(Settings(broker_url="amqp://x/", metric_workers=3))
    keys = [f"run-{n}" for n in range(3000)]
    truths = [topology.destination("y_true", key) for key in keys]
    preds = [topology.destination("y_pred", key) for key in keys]
    assert [t.split(".")[1] for t in truths] == [p.split(".")[1] for p in preds]
    counts = Counter(truths)
    assert len(counts) == 3
    assert min(counts.values()) > 800  # spread evenly enough for the work to split
    assert shard_of("run-7", 3) == shard_of("run-7", 3) == zlib.crc32(b"run-7") % 3


def test_unsharded_queues_and_a_missing_key() -> None:
    one = Topology.from_settings(Settings())
    assert one.destination("y_true", None) == "y_true"
    three = Topology.from_settings(Settings(broker_url="amqp://x/", metric_workers=3))
    assert three.destination("features", None) == "features"
    with pytest.raises(BrokerError, match="no key"):
        three.destination("y_true", None)


def test_shard_groups_keep_each_message_within_one_shard() -> None:
    ids: list[RecordId] = [f"r{n}" for n in range(50)] + [7, 7.0]
    groups = shard_groups(ids, 3)
    assert sorted(i for group in groups for i in group) == list(range(52))
    for group in groups:
        assert len({shard_of(record_key(ids[i]), 3) for i in group}) == 1
    assert shard_groups(ids, 1) == [list(range(52))]
    assert shard_groups([], 3) == []
