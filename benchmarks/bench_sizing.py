"""How many workers of each kind a rate needs, from each service's measured CPU per record; and
the speed-up from 1 to 2 and 3 metric workers on this machine.

    uv run python benchmarks/bench_sizing.py [--records N] [--workers 1,2,3] [--url URL]
        [--budget 0.7] [--rates 10000,100000,500000,1000000,2000000]

Runs `bench_pipeline.run_pipeline` (`mlmon up --broker URL --rate 0 --count N
--metric-workers K`, batched, fresh queues, every process sampled from /proc) once per K.
From the K=1 run: each service's CPU seconds per record (features, model, metric, and
RabbitMQ's beam.smp for the three queues a record crosses) inside the measured span (start-up
left out); then per rate, workers = ceil(rate x CPU per record / budget), budget being the
share of a core one worker may use (0.7 leaves room for bursts and the GC). RabbitMQ is sized
in cores, not nodes: a quorum queue's leader is one Erlang process on one node, so the broker
scales across queues (the metric's shards), not within one. On a 2-core machine K > 1 cannot
go faster; the figure shows that nothing serialises them (records/s holds), and each worker's
CPU per record stays about the same.
"""

from __future__ import annotations

import argparse
import math
import os

from bench_broker import DEFAULT_URL
from bench_pipeline import Result, Run, header, run_pipeline, span_cpu

KINDS = ("features", "model", "metric")


def per_record(result: Result) -> dict[str, float]:
    """CPU microseconds per record of each kind of service (summed over its processes) and of
    the broker, inside the measured span (first sent_at to last joined_at): the steady state,
    without each process's start-up (imports: about a second of CPU each)."""
    rows = max(result.rows, 1)
    return {
        ("rabbitmq" if name == "rabbit" else name): result.cpu_in_span.get(name, 0.0) / rows * 1e6
        for name in (*KINDS, "rabbit")
    }


def sizing_table(cpu_us: dict[str, float], rates: list[int], budget: float) -> str:
    names = list(cpu_us)
    lines = [
        "| records/s | " + " | ".join(names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for rate in rates:
        cells = [str(max(1, math.ceil(rate * cpu_us[n] / 1e6 / budget))) for n in names]
        lines.append(f"| {rate:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workers", default="1,2,3", help="metric workers per run")
    parser.add_argument("--budget", type=float, default=0.7, help="cores one worker may use")
    parser.add_argument("--rates", default="10000,100000,500000,1000000,2000000")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    heading = header(args.url)
    print(heading, flush=True)
    results = []
    for workers in (int(w) for w in args.workers.split(",")):
        run = Run("batched", args.records, 0, metric_workers=workers)
        print(f"pipeline: {run.label} ...", flush=True)
        result = run_pipeline(args.url, run, None, args.timeout, keep=False)
        print(
            f"  {result.rows:,} rows ({result.unique:,} ids), {result.records_per_s:,.0f} "
            f"records/s, wall {result.wall:.1f}s, exit {result.exit_code}",
            flush=True,
        )
        results.append(result)
    print()
    print(heading)
    print(f"cores: {len(os.sched_getaffinity(0))}")
    base = min(results, key=lambda r: r.run.metric_workers)
    print("\n| metric workers | rows | records/s | speed-up | metric CPU s (processes) |")
    print("|---:|---:|---:|---:|---|")
    for r in results:
        cpu, _mb, n = r.processes.get("metric", (math.nan, 0.0, 0))
        speed = r.records_per_s / base.records_per_s if base.records_per_s else math.nan
        print(
            f"| {r.run.metric_workers} | {r.rows:,} | {r.records_per_s:,.0f} | x{speed:.2f} "
            f"| {cpu:.1f} ({n}) |"
        )
    for r in results:
        print(f"  {r.run.label}: {span_cpu(r)}")
    print("\nCPU per record, microseconds, in each run's span:")
    for r in results:
        cells = ", ".join(f"{name} {us:.2f}" for name, us in per_record(r).items())
        print(f"  {r.run.metric_workers} metric workers: {cells}")
    cpu_us = per_record(base)
    print(f"\nCPU per record, microseconds (span, {base.run.metric_workers} metric worker):")
    print("  " + ", ".join(f"{name} {us:.2f}" for name, us in cpu_us.items()))
    print(f"\nworkers needed (ceil(rate x CPU per record / {args.budget:g} core)):")
    print(sizing_table(cpu_us, [int(r) for r in args.rates.split(",")], args.budget))


if __name__ == "__main__":
    main()
