"""The model service predicts the next batch while earlier predictions await their confirms,
acks each batch only after its own, and stops on a failed publish as if it had awaited it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from mlmon.bus import Delivery, OutMessage
from mlmon.bus.memory import MemoryBus
from mlmon.ops.status import ServiceStats
from mlmon.services.model import BATCHES_IN_FLIGHT, run_model
from mlmon.settings import Settings
from mlmon.wire import BATCH, decode_batch, encode_batch


class First:
    """Predicts the first feature."""

    name, version, n_features = "first", "1", 3

    def predict(self, features: np.ndarray) -> np.ndarray:
        return features[:, 0].copy()


class HeldConfirms(MemoryBus):
    """Each y_pred publish waits for its own release (and then fails if `failure` is set), as
    a broker's confirms wait for its fsync; acks are recorded in order."""

    def __init__(self) -> None:
        super().__init__()
        self.releases: list[asyncio.Event] = []
        self.failure: Exception | None = None
        self.pending = 0
        self.most_pending = 0
        self.acks: list[str] = []
        self._all_released = False

    def release_all(self) -> None:
        """Release every publish waiting, and let later ones through at once."""
        self._all_released = True
        for release in self.releases:
            release.set()

    async def publish(self, queue: str, messages: Sequence[OutMessage]) -> None:
        if queue != "y_pred":
            return await super().publish(queue, messages)
        release = asyncio.Event()
        if self._all_released:
            release.set()
        self.releases.append(release)
        self.pending += 1
        self.most_pending = max(self.most_pending, self.pending)
        try:
            await release.wait()
            if self.failure is not None:
                raise self.failure
            await super().publish(queue, messages)
        finally:
            self.pending -= 1

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        self.acks += [str(decode_batch(d.body).ids[0]) for d in deliveries]
        await super().ack(deliveries)


def settings() -> Settings:
    return Settings(batch_size=2, prefetch=3)


async def feed(bus: MemoryBus, batches: int, start: int = 0) -> None:
    for i in range(start, start + batches):
        vectors = np.array([[float(i), 0, 0], [float(i) + 0.5, 0, 0]])
        body = encode_batch([f"{i}-a", f"{i}-b"], vectors, np.zeros(2))
        await bus.publish("features", [OutMessage(body, {}, BATCH)])


async def wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - the fakes count; they set no event
            await asyncio.sleep(0.001)


async def test_batches_are_predicted_while_confirms_wait_and_acked_after_them() -> None:
    bus, stats, config = HeldConfirms(), ServiceStats("model"), settings()
    assert config.consumer_prefetch > BATCHES_IN_FLIGHT == 2
    model = asyncio.create_task(run_model(config, bus, First(), stats))  # type: ignore[arg-type]
    for waiting in (1, 2):  # each message is its own batch, predicted while others wait
        await feed(bus, 1)
        await wait_until(lambda: bus.pending == waiting)  # noqa: B023 - awaited right here
    await feed(bus, 3)  # no room: at most BATCHES_IN_FLIGHT, however many the prefetch allows
    await asyncio.sleep(0.05)
    assert (bus.most_pending, bus.acked, bus.published["y_pred"]) == (2, 0, 0)
    assert stats.counters["predicted"] == 0
    bus.release_all()
    await wait_until(lambda: bus.acked == 5)
    assert bus.published["y_pred"] == 5
    assert stats.counters["predicted"] == 10
    await bus.stop_consuming()
    await asyncio.wait_for(model, 5)


async def test_a_failed_publish_stops_the_model_with_its_own_error() -> None:
    """Even with no batch behind it: the loop does not wait for the next one to notice."""
    bus, stats = HeldConfirms(), ServiceStats("model")
    model = asyncio.create_task(run_model(settings(), bus, First(), stats))  # type: ignore[arg-type]
    await feed(bus, 1)
    await wait_until(lambda: bus.pending == 1)
    bus.failure = ConnectionError("the broker went away")
    bus.release_all()
    with pytest.raises(ConnectionError, match="the broker went away"):
        await asyncio.wait_for(model, 5)
    assert bus.acked == 0  # the batch is redelivered, never acked unconfirmed


async def test_batches_are_acked_in_delivery_order_whatever_order_their_confirms_come_in() -> None:
    """The bus acks cumulatively (the highest delivery tag): a later batch acked first would
    ack an earlier one before its confirms, and the earlier one's own ack would then repeat a
    tag, which RabbitMQ answers by closing the channel (seen: the model stopped consuming)."""
    bus, stats = HeldConfirms(), ServiceStats("model")
    model = asyncio.create_task(run_model(settings(), bus, First(), stats))  # type: ignore[arg-type]
    for waiting in (1, 2):
        await feed(bus, 1, start=waiting)
        await wait_until(lambda: len(bus.releases) == waiting)  # noqa: B023 - awaited here
    for release in reversed(bus.releases):  # the later batch's confirms come first
        release.set()
        await asyncio.sleep(0.02)
    await wait_until(lambda: len(bus.acks) == 2)
    assert bus.acks == ["1-a", "2-a"]
    await bus.stop_consuming()
    await asyncio.wait_for(model, 5)
