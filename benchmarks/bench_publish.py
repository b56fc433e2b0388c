"""Publishing single-record messages: aio-pika's per-message publish against mlmon's one write.

    uv run python benchmarks/bench_publish.py [--url URL] [--messages 30000] [--chunk 500]

Both publish the same persistent ~100-byte messages with publisher confirms, mandatory, to a
fresh quorum queue, `--chunk` messages in flight at a time, and print messages/s with the CPU
seconds per message of this process (the client) and of the broker (beam.smp) over the run:
- `aio-pika`: `Exchange.publish` per message, as mlmon did before (one aiormq `basic_publish`
  each: the channel lock, one writer round trip and one socket write per message);
- `one write`: `mlmon.bus.confirmed_publish.publish_confirmed`, the frames of a chunk in one
  write, one confirm future per message.
The queue is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from bench_broker import DEFAULT_URL, broker_cpu_seconds

from mlmon.bus.confirmed_publish import Outgoing, publish_confirmed
from mlmon.wire import JSON, encode_features, sent_at_header

Publisher = Callable[[list[bytes]], Awaitable[None]]


async def measure(url: str, way: str, messages: int, chunk: int) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        name = f"bench-publish-{uuid.uuid4().hex[:8]}"
        await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        headers: dict[str, Any] = dict(sent_at_header(time.time()))
        bodies = [encode_features(f"5f3a9c1b2d4e-{n}", [0.01 * n] * 10) for n in range(chunk)]

        async def per_message(chunk_bodies: list[bytes]) -> None:
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(body, headers=headers, content_type=JSON, delivery_mode=2),
                        routing_key=name,
                        mandatory=True,
                    )
                    for body in chunk_bodies
                )
            )

        async def one_write(chunk_bodies: list[bytes]) -> None:
            raw = await channel.get_underlay_channel()
            outgoing = [Outgoing(body, headers, JSON) for body in chunk_bodies]
            outcomes = await publish_confirmed(raw, "", name, outgoing)
            if any(outcomes):
                raise RuntimeError(f"not confirmed: {outcomes}")

        publish: Publisher = per_message if way == "aio-pika" else one_write
        broker0, cpu0, wall0 = broker_cpu_seconds(), time.process_time(), time.perf_counter()
        for _ in range(0, messages, chunk):
            await publish(bodies)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        broker = (broker_cpu_seconds() or 0.0) - (broker0 or 0.0)
        done = (messages + chunk - 1) // chunk * chunk
        print(
            f"{way:<10} {done:>8,} {done / wall:>10,.0f} {cpu / done * 1e6:>12.1f} "
            f"{broker / done * 1e6:>12.1f}"
        )
        await channel.queue_delete(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--chunk", type=int, default=500, help="messages in flight at a time")
    args = parser.parse_args()
    print(f"{'way':<10} {'messages':>8} {'msg/s':>10} {'client us/m':>12} {'broker us/m':>12}")
    for way in ("aio-pika", "one write", "aio-pika", "one write"):
        asyncio.run(measure(args.url, way, args.messages, args.chunk))


if __name__ == "__main__":
    main()
