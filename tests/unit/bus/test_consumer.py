"""DirectDelivery, RabbitBus's consumer's delivery handler, against stand-ins for aiormq's
channel (the real broker's side is in tests/integration/bus/test_rabbit_bus.py)."""

from __future__ import annotations

from types import SimpleNamespace

from mlmon.bus.consumer import DirectDelivery


def test_direct_delivery_leaves_a_channel_it_does_not_know_to_aiormq() -> None:
    """An aiormq without the private methods DirectDelivery relies on keeps its own handler
    (a task per delivery: slower, still correct)."""

    class OtherChannel:
        def __init__(self) -> None:
            self.consumers: dict[str, object] = {}

        async def _on_deliver_frame(self, frame: object) -> None: ...

    channel = OtherChannel()
    assert not DirectDelivery.install(channel, "tag", lambda message: None)  # type: ignore[arg-type]
    assert "_on_deliver_frame" not in vars(channel)


async def test_direct_delivery_takes_its_own_tag_and_leaves_the_rest_to_aiormq() -> None:
    """Deliveries for another consumer tag, or for ours once cancelled (aiormq drops it from
    `consumers`), go to aiormq's own handler; ours are handed over at once, in order."""

    class FakeChannel:
        def __init__(self) -> None:
            self.consumers: dict[str, object] = {"ours": object(), "theirs": object()}
            self.to_aiormq: list[str] = []
            self.bodies = iter([b"1", b"2"])

        async def _on_deliver_frame(self, frame: object) -> None:
            self.to_aiormq.append(frame.consumer_tag)  # type: ignore[attr-defined]

        async def _Channel__get_content_header(self) -> object:
            return "header"

        async def _read_content(self, frame: object, header: object) -> object:
            return SimpleNamespace(body=next(self.bodies), header=header)

    channel = FakeChannel()
    handed: list[bytes] = []
    assert DirectDelivery.install(channel, "ours", lambda m: handed.append(m.body))  # type: ignore[arg-type]
    assert not DirectDelivery.install(channel, "another", lambda m: None)  # type: ignore[arg-type]
    deliver = channel._on_deliver_frame  # the instance's: DirectDelivery
    await deliver(SimpleNamespace(consumer_tag="ours"))
    await deliver(SimpleNamespace(consumer_tag="theirs"))
    await deliver(SimpleNamespace(consumer_tag="ours"))
    del channel.consumers["ours"]  # basic_cancel
    await deliver(SimpleNamespace(consumer_tag="ours"))
    assert handed == [b"1", b"2"]
    assert channel.to_aiormq == ["theirs", "ours"]
