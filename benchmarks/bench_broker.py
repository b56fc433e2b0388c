"""The broker's own limit: a bare producer and consumer on one fresh queue.

    uv run python benchmarks/bench_broker.py [--url URL] [--form single|batched|both]
        [--records N] [--batch B] [--window W] [--queue-type quorum|classic] [--prefetch P]

One queue declared like mlmon's (durable, `x-queue-type` quorum by default), persistent
messages, publisher confirms with W publishes in flight (two publishers writing W/2 messages
at a time, each waiting for its confirms), and a consumer in its own process (its own core,
like the real services) with manual cumulative acks (`multiple=True` every `--ack-every`
deliveries and at the end). The client code paths are mlmon's own (aiormq under aio-pika, one
write per chunk of publishes, no per-delivery message objects: mlmon/bus/confirmed_publish.py
and consumer.py), the fastest this client library goes, so the limit is the broker's. Bodies
are encoded before the clock starts, so the figure is what the broker and the client library
can move, not what encoding costs (printed apart). The clock runs from the first publish to
the consumer's last ack. The queue is deleted afterwards.

Forms: `single` = one record per message (`mlmon.wire.encode_features`, JSON);
`batched` = `--batch` records per message (`mlmon.wire.encode_batch`, msgpack, (B, 10) floats).

`measure_broker_limit(...)` is what bench_pipeline.py calls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import queue as queue_module
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import aiormq
import numpy as np

from mlmon.bus.confirmed_publish import Outgoing, publish_confirmed
from mlmon.ids import IdGenerator
from mlmon.wire import BATCH, JSON, encode_batch, encode_features

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"
FEATURES = 10  # the diabetes data set's width
DISTINCT_BODIES = 1000  # encoded bodies; longer runs cycle through them
ATTEMPTS = 3  # a broker restarted under us (the robustness tests do that) costs a retry
READY_TIMEOUT = 30.0
_CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    aiormq.exceptions.AMQPError,
    aio_pika.exceptions.AMQPException,
    RuntimeError,
)


class BenchError(RuntimeError):
    """A measurement that did not complete (connection lost, consumer died, timeout)."""


# --- payloads ---------------------------------------------------------------------------------


def make_bodies(
    form: str, records: int, batch: int, seed: int = 0
) -> tuple[list[bytes], str, float]:
    """The message bodies for `records` records, their content type, and encode µs per record.

    At most DISTINCT_BODIES different bodies are encoded; longer runs repeat them (the broker
    and the bare consumer never look inside), which keeps memory flat for millions of records.
    """
    per_message = 1 if form == "single" else batch
    messages = -(-records // per_message)
    distinct = min(messages, DISTINCT_BODIES)
    rng = np.random.default_rng(seed)
    vectors = rng.normal(0.0, 0.05, (distinct * per_message, FEATURES))  # like diabetes, scaled
    next_id = IdGenerator()
    ids = [next_id() for _ in range(distinct * per_message)]
    started = time.perf_counter()
    if form == "single":
        unique = [encode_features(i, v) for i, v in zip(ids, vectors.tolist(), strict=True)]
        content_type = JSON
    elif form == "batched":
        sent_at = np.full(batch, time.time())
        unique = [
            encode_batch(ids[s : s + batch], vectors[s : s + batch], sent_at)
            for s in range(0, distinct * batch, batch)
        ]
        content_type = BATCH
    else:
        msg = f"unknown form {form!r}"
        raise ValueError(msg)
    encode_us = (time.perf_counter() - started) / (distinct * per_message) * 1e6
    bodies = [unique[m % distinct] for m in range(messages)]
    if form == "batched" and records % batch:  # the last message carries the remainder
        tail = records % batch
        bodies[-1] = encode_batch(ids[:tail], vectors[:tail], sent_at[:tail])
    return bodies, content_type, encode_us


# --- broker helpers ---------------------------------------------------------------------------


def queue_arguments(queue_type: str) -> dict[str, Any]:
    return {"x-queue-type": queue_type}


async def _declare(url: str, name: str, queue_type: str) -> str:
    connection = await aio_pika.connect(url, timeout=10)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(name, durable=True, arguments=queue_arguments(queue_type))
        server = connection.transport.connection.server_properties
        version = server.get("version", "?")
        return version.decode() if isinstance(version, bytes) else str(version)


async def delete_queues(url: str, names: list[str], attempts: int = 10) -> None:
    """Delete queues, ignoring those that are not there; retries while the broker restarts."""
    for attempt in range(attempts):
        try:
            connection = await aio_pika.connect(url, timeout=10)
            async with connection:
                for name in names:
                    channel = await connection.channel()
                    # A queue never declared closes its channel: each gets a fresh one.
                    with contextlib.suppress(aiormq.exceptions.ChannelNotFoundEntity):
                        await channel.queue_delete(name)
                        await channel.exchange_delete(name)  # the features fan-out, if any
            return
        except _CONNECTION_ERRORS:
            if attempt == attempts - 1:
                print(f"warning: could not delete queues {names}", file=sys.stderr)
                return
            await asyncio.sleep(1.0)


def broker_cpu_seconds() -> float | None:
    """CPU seconds used so far by the RabbitMQ VM (beam.smp) on this machine, if visible."""
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if "(beam.smp)" in stat:
            fields = stat.rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick
    return None


# --- consumer (its own process) ---------------------------------------------------------------


def _consumer_main(
    url: str, name: str, expected: int, prefetch: int, ack_every: int, results: Any
) -> None:
    try:
        asyncio.run(_consume(url, name, expected, prefetch, ack_every, results))
    except BaseException as error:
        results.put(("error", repr(error)))
        raise


async def _consume(
    url: str, name: str, expected: int, prefetch: int, ack_every: int, results: Any
) -> None:
    connection = await aio_pika.connect(url, timeout=10)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        await channel.declare_queue(name, passive=True)
        raw = await channel.get_underlay_channel()
        done = asyncio.Event()
        state = {"count": 0, "bytes": 0, "first": 0.0, "last": 0.0}

        # On aiormq's channel, as mlmon's consumer does (mlmon/bus/consumer.py says why).
        async def on_message(message: aiormq.abc.DeliveredMessage) -> None:
            state["count"] += 1
            state["bytes"] += len(message.body)
            if state["count"] == 1:
                state["first"] = time.monotonic()
            if state["count"] % ack_every == 0 or state["count"] >= expected:
                await raw.basic_ack(int(message.delivery_tag or 0), multiple=True)
            if state["count"] >= expected and not done.is_set():
                state["last"] = time.monotonic()
                done.set()

        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        await raw.basic_consume(name, on_message, no_ack=False)
        results.put(("ready", None))
        closed = asyncio.ensure_future(channel.closed())  # a broker restart ends us here
        waiter = asyncio.ensure_future(done.wait())
        await asyncio.wait([waiter, closed], return_when=asyncio.FIRST_COMPLETED)
        if not done.is_set():
            closed.cancel()
            waiter.cancel()
            msg = f"consumer channel closed after {state['count']} of {expected} messages"
            raise BenchError(msg)
        waiter.cancel()
        closed.cancel()
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
        results.put(("done", {**state, "cpu": cpu}))


# --- producer ---------------------------------------------------------------------------------


async def _produce(
    url: str, name: str, bodies: list[bytes], content_type: str, window: int
) -> dict[str, float]:
    connection = await aio_pika.connect(url, timeout=10)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        raw = await channel.get_underlay_channel()
        # Two publishers, each with half the window in one write (mlmon's publish path,
        # mlmon/bus/confirmed_publish.py): while one waits for its confirms the other writes.
        chunk = max(1, window // 2)
        chunks = iter(
            [
                [Outgoing(body, None, content_type) for body in bodies[start : start + chunk]]
                for start in range(0, len(bodies), chunk)
            ]
        )

        async def publisher() -> None:
            for messages in chunks:
                outcomes = await publish_confirmed(raw, "", name, messages)
                if any(outcomes):
                    raise BenchError(f"publish not confirmed: {next(filter(None, outcomes))!r}")

        cpu0 = time.process_time()
        started = time.monotonic()
        await asyncio.gather(publisher(), publisher())
        confirmed = time.monotonic()
        return {"started": started, "confirmed": confirmed, "cpu": time.process_time() - cpu0}


# --- the measurement --------------------------------------------------------------------------


def measure_broker_limit(
    url: str = DEFAULT_URL,
    form: str = "batched",
    records: int = 200_000,
    batch: int = 1000,
    window: int = 256,
    queue_type: str = "quorum",
    prefetch: int = 1000,
    ack_every: int = 100,
    timeout: float = 300.0,
    attempts: int = ATTEMPTS,
) -> dict[str, Any]:
    """Move `records` records through one fresh queue; return the figures as a dict.

    Keys: form, queue_type, records, messages, batch, window, body_bytes (mean), seconds
    (first publish to last ack), publish_seconds (first publish to last confirm),
    messages_per_s, records_per_s, mb_per_s, encode_us_per_record (outside `seconds`),
    producer_cpu, consumer_cpu, broker_cpu (None if beam.smp is not visible), rabbitmq.
    """
    bodies, content_type, encode_us = make_bodies(form, records, batch)
    last_error: BaseException | None = None
    for attempt in range(1, attempts + 1):
        try:
            result = _measure_once(
                url, bodies, content_type, window, queue_type, prefetch, ack_every, timeout
            )
        except (BenchError, *_CONNECTION_ERRORS) as error:
            last_error = error
            print(f"broker measurement attempt {attempt} failed: {error!r}", file=sys.stderr)
            time.sleep(2.0)
            continue
        body_bytes = sum(map(len, bodies)) / len(bodies)
        result.update(
            form=form,
            queue_type=queue_type,
            records=records,
            messages=len(bodies),
            batch=batch if form == "batched" else 1,
            window=window,
            body_bytes=body_bytes,
            messages_per_s=len(bodies) / result["seconds"],
            records_per_s=records / result["seconds"],
            mb_per_s=body_bytes * len(bodies) / result["seconds"] / 1e6,
            encode_us_per_record=encode_us,
        )
        return result
    msg = f"broker measurement failed {attempts} times; last: {last_error!r}"
    raise BenchError(msg)


def _measure_once(
    url: str,
    bodies: list[bytes],
    content_type: str,
    window: int,
    queue_type: str,
    prefetch: int,
    ack_every: int,
    timeout: float,
) -> dict[str, Any]:
    name = f"mlmon-bench-broker-{uuid.uuid4().hex[:12]}"
    context = mp.get_context("spawn")  # a clean interpreter: no inherited event loop or threads
    results = context.Queue()
    consumer = None
    declared = False
    try:
        version = asyncio.run(_declare(url, name, queue_type))
        declared = True
        consumer = context.Process(
            target=_consumer_main,
            args=(url, name, len(bodies), prefetch, ack_every, results),
            name="bench-consumer",
            daemon=True,
        )
        consumer.start()
        _expect(results, consumer, "ready", READY_TIMEOUT)
        broker0 = broker_cpu_seconds()
        produced = asyncio.run(
            asyncio.wait_for(_produce(url, name, bodies, content_type, window), timeout)
        )
        consumed = _expect(results, consumer, "done", timeout)
        broker1 = broker_cpu_seconds()
        return {
            "seconds": consumed["last"] - produced["started"],
            "publish_seconds": produced["confirmed"] - produced["started"],
            "producer_cpu": produced["cpu"],
            "consumer_cpu": consumed["cpu"],
            "broker_cpu": None if broker0 is None or broker1 is None else broker1 - broker0,
            "rabbitmq": version,
        }
    finally:
        if consumer is not None:
            consumer.join(5)
            if consumer.is_alive():
                consumer.terminate()  # only the process this function started
                consumer.join(5)
        results.close()
        if declared:
            asyncio.run(delete_queues(url, [name]))


def _expect(results: Any, consumer: Any, kind: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got, payload = results.get(timeout=0.5)
        except queue_module.Empty:
            if not consumer.is_alive():
                msg = f"consumer exited with code {consumer.exitcode} before {kind!r}"
                raise BenchError(msg) from None
            continue
        if got == "error":
            msg = f"consumer failed: {payload}"
            raise BenchError(msg)
        if got == kind:
            return payload
    msg = f"consumer did not report {kind!r} within {timeout:.0f}s"
    raise BenchError(msg)


# --- command line -----------------------------------------------------------------------------


def format_row(r: dict[str, Any]) -> str:
    broker = "-" if r["broker_cpu"] is None else f"{r['broker_cpu']:.1f}"
    return (
        f"{r['form']:<8} {r['queue_type']:<8} {r['records']:>8} {r['messages']:>8} "
        f"{r['body_bytes']:>9.0f} {r['window']:>6} {r['seconds']:>8.2f} "
        f"{r['messages_per_s']:>10,.0f} {r['records_per_s']:>11,.0f} {r['mb_per_s']:>7.1f} "
        f"{r['producer_cpu']:>6.1f} {r['consumer_cpu']:>6.1f} {broker:>6} "
        f"{r['encode_us_per_record']:>10.2f}"
    )


HEADER = (
    f"{'form':<8} {'queue':<8} {'records':>8} {'messages':>8} {'body B':>9} {'window':>6} "
    f"{'seconds':>8} {'msg/s':>10} {'records/s':>11} {'MB/s':>7} "
    f"{'prodCPU':>6} {'consCPU':>6} {'brkCPU':>6} {'enc µs/rec':>10}"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--form", choices=["single", "batched", "both"], default="both")
    parser.add_argument(
        "--records",
        type=int,
        default=None,
        help="records to move (default: 30,000 single, 5,000,000 batched)",
    )
    parser.add_argument("--batch", type=int, default=1000, help="records per batched message")
    parser.add_argument("--window", type=int, default=256, help="unconfirmed publishes in flight")
    parser.add_argument("--queue-type", choices=["quorum", "classic"], default="quorum")
    parser.add_argument("--prefetch", type=int, default=1000)
    parser.add_argument("--ack-every", type=int, default=100)
    args = parser.parse_args()

    forms = ["single", "batched"] if args.form == "both" else [args.form]
    print(
        f"bench_broker: {os.cpu_count()} cores, python {sys.version.split()[0]}, "
        f"aio-pika {aio_pika.__version__}"
    )
    rows = []
    for form in forms:
        records = args.records or (30_000 if form == "single" else 5_000_000)
        try:
            rows.append(
                measure_broker_limit(
                    args.url,
                    form,
                    records,
                    args.batch,
                    args.window,
                    args.queue_type,
                    prefetch=args.prefetch,
                    ack_every=args.ack_every,
                )
            )
        except BenchError as error:
            sys.exit(f"bench_broker: {error}")
    print(
        f"RabbitMQ {rows[0]['rabbitmq']}; seconds = first publish to last consumer ack; "
        "CPU in seconds (producer, consumer, broker)"
    )
    print(HEADER)
    for row in rows:
        print(format_row(row))


if __name__ == "__main__":
    main()
