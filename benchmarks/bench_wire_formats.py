"""Encode + decode throughput and size of the wire forms, for rich prediction records.

    uv run python benchmarks/bench_wire_formats.py [--records 100000] [--repeat 3]

Each record is a prediction with a class label body, 3 class scores, 10 numeric and 3
categorical features, 2 tags, an event time, a model and a version. Forms:
- `arrow`: `wire.arrow` (one Arrow IPC stream per message), batches of 1,000 and 10,000,
  encoded from columns (`encode_values_arrow`) and decoded to `RecordColumns`;
- `json`: the single form, one msgspec-encoded JSON message per record (from prebuilt dicts,
  so the encode figure is msgspec alone), decoded with `decode_value` (its checks included);
- `msgpack`: the existing float batch (`encode_batch`/`decode_batch`), for scale, on the
  numeric-only part of the same records (label code, 10 numeric features, 3 scores: 14
  float64 a record); it carries no categories, tags, model or version.
Times are the best of `--repeat` runs of the whole record set; rates are records per second
of this process's CPU time (`--clock cpu`, every thread counted: steadier than wall time on a
shared machine) or of wall time (`--clock wall`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np

from mlmon.wire import decode_batch, decode_value, encode_batch
from mlmon.wire.arrow import decode_values_arrow, encode_values_arrow

CLASSES = ("low", "mid", "high")
CITIES = np.array(["Oslo", "Lima", "Pune", "Kobe", None], dtype=object)


def records(n: int) -> dict[str, Any]:
    """The columns of n prediction records (seeded: every run measures the same data)."""
    rng = np.random.default_rng(7)
    scores = rng.dirichlet(np.ones(len(CLASSES)), size=n)
    numeric = {f"x{i}": rng.normal(size=n) for i in range(10)}
    categories = {
        "city": CITIES[rng.integers(0, len(CITIES), n)],
        "plan": np.array(["free", "pro"], dtype=object)[rng.integers(0, 2, n)],
        "device": np.array(["ios", "android", "web"], dtype=object)[rng.integers(0, 3, n)],
    }
    return {
        "ids": [f"5f3a9c1b2d4e-{i}" for i in range(n)],
        "labels": [CLASSES[j] for j in scores.argmax(axis=1)],
        "scores": scores,
        "features": {**numeric, **categories},
        "ts": time.time() - rng.uniform(0, 3600, n),
        "tags": [{"region": ("eu", "us")[i % 2], "shard": str(i % 8)} for i in range(n)],
    }


def arrow_messages(data: dict[str, Any], size: int) -> list[bytes]:
    out = []
    for start in range(0, len(data["ids"]), size):
        rows = slice(start, start + size)
        out.append(
            encode_values_arrow(
                data["ids"][rows],
                data["labels"][rows],
                ts=data["ts"][rows],
                tags=data["tags"][rows],
                scores=(data["scores"][rows], CLASSES),
                model="churn",
                version="4",
                features={name: column[rows] for name, column in data["features"].items()},
            )
        )
    return out


def json_dicts(data: dict[str, Any]) -> list[dict[str, Any]]:
    names = list(data["features"])
    columns = [data["features"][name].tolist() for name in names]
    scores, ts = data["scores"].tolist(), data["ts"].tolist()
    return [
        {
            "id": record_id,
            "body": data["labels"][i],
            "scores": dict(zip(CLASSES, scores[i], strict=True)),
            "model": "churn",
            "version": "4",
            "features": {name: column[i] for name, column in zip(names, columns, strict=True)},
            "ts": ts[i],
            "tags": data["tags"][i],
        }
        for i, record_id in enumerate(data["ids"])
    ]


def numeric_matrix(data: dict[str, Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    codes = np.array([CLASSES.index(label) for label in data["labels"]], dtype=np.float64)
    numeric = [data["features"][f"x{i}"] for i in range(10)]
    return np.column_stack([codes, *numeric, data["scores"]])


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]


def best(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = clock()
        work()
        times.append(clock() - start)
    return min(times)


def measure(
    name: str,
    n: int,
    repeat: int,
    encode: Callable[[], list[bytes]],
    decode: Callable[[list[bytes]], object],
) -> tuple[str, float, float, float, float]:
    messages = encode()
    encode_s = best(repeat, encode)
    decode_s = best(repeat, lambda: decode(messages))
    size = sum(len(m) for m in messages) / n
    return name, n / encode_s, n / decode_s, n / (encode_s + decode_s), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    n, repeat = args.records, args.repeat
    data = records(n)
    dicts = json_dicts(data)
    matrix = numeric_matrix(data)
    sent = np.full(n, time.time())
    encoder = msgspec.json.Encoder()

    def batches(size: int) -> list[bytes]:
        return [
            encode_batch(data["ids"][s : s + size], matrix[s : s + size], sent[s : s + size])
            for s in range(0, n, size)
        ]

    rows = [
        measure(
            f"arrow, {size:,} a message",
            n,
            repeat,
            lambda size=size: arrow_messages(data, size),  # type: ignore[misc]
            lambda ms: [decode_values_arrow(m) for m in ms],
        )
        for size in (1_000, 10_000)
    ]
    rows.append(
        measure(
            "json, 1 a message",
            n,
            repeat,
            lambda: [encoder.encode(d) for d in dicts],
            lambda ms: [decode_value(m) for m in ms],
        )
    )
    rows += [
        measure(
            f"msgpack floats, {size:,} a message",
            n,
            repeat,
            lambda size=size: batches(size),  # type: ignore[misc]
            lambda ms: [decode_batch(m) for m in ms],
        )
        for size in (1_000, 10_000)
    ]
    print(f"{n:,} prediction records, best of {repeat}, records per {args.clock} second")
    print("| form | encode rec/s | decode rec/s | encode+decode rec/s | bytes/record |")
    print("|---|---:|---:|---:|---:|")
    for name, enc, dec, both, size in rows:
        print(f"| {name} | {enc:,.0f} | {dec:,.0f} | {both:,.0f} | {size:,.1f} |")


if __name__ == "__main__":
    main()
