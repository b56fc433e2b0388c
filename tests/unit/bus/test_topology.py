"""Topology: durable quorum queues with dead-letter targets, or the seeds' plain queues."""

from __future__ import annotations

from mlmon.bus.topology import Topology
from mlmon.settings import Settings


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
