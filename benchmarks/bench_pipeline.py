"""The whole pipeline over RabbitMQ, beside the broker's own limit for the same message form.

    uv run python benchmarks/bench_pipeline.py
        [--scenario throughput|single|latency|workers|rich|estimated|all]
        [--url URL] [--records N] [--rate R] [--batch B] [--limit-records N] [--no-limit]
        [--rich-model boosting|linear]

Per run: `measure_broker_limit` (bench_broker.py) for the same form, then `python -m mlmon up
--broker URL --count N --rate R --logs TMP [--model-workers K]` on fresh uuid-named queues
(MLMON_QUEUE_*), with MLMON_WIRE_FORMAT=batched|single, sampling every descendant process every
0.2 s from /proc (CPU seconds = utime+stime; peak RSS = VmHWM), plus the broker's beam.smp.
Then, from metric_log.csv: records/s = rows / (max(joined_at) - min(sent_at)) and latency
percentiles of joined_at - sent_at (to the second half's arrival at the metric). The queues
(and their .dead) are deleted afterwards.

Rate-limited runs also measure the latency to the row durably written (the target's
definition): the services serve /metrics (MLMON_METRICS_PORT), and the metric's
`mlmon_end_to_end_latency_seconds` histogram, observed once each batch's rows are fsync'd and
committed, is scraped every 0.25 s; its p50/p99 are interpolated as PromQL's
histogram_quantile, and the share of rows within 25 ms, a bucket bound, is exact. Beside them
a disk probe (a one-byte write and fsync every 50 ms on the logs' filesystem) prints the
device's own stalls: a stall holds the broker's write-ahead log and the metric's rows alike.

Each pipeline run starts after a sync(2) and once the broker is idle (under 0.1 core for 0.5 s,
waiting at most 30 s): the run before leaves dirty pages and queues being deleted behind.

Scenarios (counts can be scaled with --records, rates with --rate):
  throughput  1,000,000 records at rate 0, batched
  single      100,000 records at rate 0, single-record messages
  latency      20,000 records at 1,000/s (20 s), batched
  workers     throughput with --model-workers 1, then 2: the speed-up
  all         all of the above (the workers=1 run is the throughput run)
  rich        300,000 named records at rate 0, batched (Arrow): 10 numeric + 3 categorical
              features with gaps, 2 tags, a three-class ONNX pipeline answering labels and scores
  estimated   rich without, then with, estimation before labels (CBPE on the scores; the
              reference is the model's training file: its cost is what is measured here)

`--rich-model linear`: the rich runs' classifier is a logistic regression (`mlmon train
--estimator linear`) instead of gradient boosting (~1 against ~11 us of CPU a record), so
that what remains is mostly mlmon's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import numpy as np
from bench_broker import (
    DEFAULT_URL,
    BenchError,
    broker_cpu_seconds,
    delete_queues,
    measure_broker_limit,
)
from prometheus_client.parser import text_string_to_metric_families

from mlmon.metric_log.layout import metric_logs
from mlmon.model.pipeline import Estimator

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_EVERY = 0.2  # seconds between /proc samples
TICK = os.sysconf("SC_CLK_TCK")
DEAD_SUFFIX = ".dead"
SERVICES = ("features", "model", "metric", "plot", "up")


@dataclass(frozen=True)
class Run:
    form: str  # "batched" or "single"
    count: int
    rate: float
    workers: int = 1
    rich: bool = False  # named records: 10 numeric + 3 categorical features, a classifier
    estimated: bool = False  # rich, with estimation before labels on (MLMON_REFERENCE)
    metric_workers: int = 1  # shards of the metric (bench_sizing.py)
    model: Estimator = "boosting"  # rich runs: the classifier `mlmon train` fits

    @property
    def label(self) -> str:
        kind = f"{self.form}, rich" if self.rich else self.form
        kind += ", linear model" if self.rich and self.model == "linear" else ""
        kind += ", estimated" if self.estimated else ""
        metric = f" metric-workers={self.metric_workers}" if self.metric_workers > 1 else ""
        return f"{kind} n={self.count} rate={self.rate:g} workers={self.workers}{metric}"


SCENARIOS: dict[str, list[Run]] = {
    "throughput": [Run("batched", 1_000_000, 0)],
    "single": [Run("single", 100_000, 0)],
    "latency": [Run("batched", 20_000, 1000)],
    "workers": [Run("batched", 1_000_000, 0, 1), Run("batched", 1_000_000, 0, 2)],
    "rich": [Run("batched", 300_000, 0, rich=True)],
    "estimated": [
        Run("batched", 300_000, 0, rich=True),
        Run("batched", 300_000, 0, rich=True, estimated=True),
    ],
}
SCENARIOS["all"] = [
    *SCENARIOS["throughput"],
    *SCENARIOS["single"],
    *SCENARIOS["latency"],
    SCENARIOS["workers"][1],
]


# --- /proc sampling ---------------------------------------------------------------------------


@dataclass
class ProcessSample:
    pid: int
    name: str
    cpu: float = 0.0  # seconds, as of the last sample
    rss_peak: float = 0.0  # MB, max of the VmRSS samples
    hwm: float = 0.0  # MB, VmHWM (the kernel's own peak) as of the last sample


def _stat(pid: int) -> tuple[int, float, str] | None:
    """(ppid, utime+stime seconds, command name) of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    command, rest = text.rsplit(")", 1)  # the command name may hold spaces and parens
    fields = rest.split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK, command.split("(", 1)[1]


def _memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB; zeros if the process is gone."""
    rss = hwm = 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    except OSError:
        pass
    return rss, hwm


def process_name(pid: int) -> str:
    """`mlmon model` for `python -m mlmon model ...`; the executable's name otherwise."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"pid {pid}"
    words = [a.decode(errors="replace") for a in argv if a]
    for i, word in enumerate(words):
        script = Path(word).name == "mlmon"
        module = word == "-m" and words[i + 1 : i + 2] == ["mlmon"]
        if script or module:
            rest = words[i + (1 if script else 2) :]
            return f"mlmon {rest[0]}" if rest else "mlmon"
    return Path(words[0]).name if words else f"pid {pid}"


class Sampler(threading.Thread):
    """Every SAMPLE_EVERY seconds: CPU and memory of every descendant of `root`, and a timeline
    of CPU seconds so far per service (and the broker's, as "rabbit")."""

    def __init__(self, root: int) -> None:
        super().__init__(name="proc-sampler", daemon=True)
        self.root = root
        self.seen: dict[int, ProcessSample] = {}
        self.timeline: list[tuple[float, dict[str, float]]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(SAMPLE_EVERY)
        self.sample()

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def sample(self) -> None:
        now = time.time()
        children: dict[int, list[int]] = {}
        cpu: dict[int, float] = {}
        rabbit = 0.0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            stat = _stat(int(entry.name))
            if stat is not None:
                children.setdefault(stat[0], []).append(int(entry.name))
                cpu[int(entry.name)] = stat[1]
                if stat[2] == "beam.smp":
                    rabbit += stat[1]
        family, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            if pid in cpu:
                family.append(pid)
            todo += children.get(pid, [])
        for pid in family:
            record = self.seen.get(pid)
            if record is None:
                record = self.seen[pid] = ProcessSample(pid, process_name(pid))
            rss, hwm = _memory(pid)
            record.cpu = max(record.cpu, cpu[pid])
            record.rss_peak = max(record.rss_peak, rss)
            record.hwm = max(record.hwm, hwm)
        so_far = {"rabbit": rabbit}
        for record in self.seen.values():  # exited processes keep their last figure
            name = record.name.removeprefix("mlmon ")
            so_far[name] = so_far.get(name, 0.0) + record.cpu
        self.timeline.append((now, so_far))

    def cpu_between(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds per service (and "rabbit") between two wall-clock times, interpolated
        between samples."""
        times = [t for t, _ in self.timeline]
        names = {name for _, so_far in self.timeline for name in so_far}
        out = {}
        for name in names:
            series = [so_far.get(name, 0.0) for _, so_far in self.timeline]
            out[name] = float(np.interp(end, times, series) - np.interp(start, times, series))
        return out


# --- latency to the durable row, from the metric's /metrics -----------------------------------

LATENCY_HISTOGRAM = "mlmon_end_to_end_latency_seconds"
TARGET_P99 = 0.025  # seconds: the performance issue's p99 target, a bucket bound of the histogram
SCRAPE_EVERY = 0.25


class LatencyScraper(threading.Thread):
    """Keeps the last scrape of the metric's latency histogram, summed over models: cumulative
    counts per upper bound. The metric observes each row once it is durable (after its fsync
    and the store's commit), which `joined_at` in the CSV, taken when the second half arrived,
    cannot tell. Its port is read from `mlmon up`'s output once the supervisor has logged it."""

    def __init__(self, up_output: Path) -> None:
        super().__init__(name="latency-scraper", daemon=True)
        self.up_output = up_output
        self.buckets: list[tuple[float, float]] = []  # (le, cumulative count), ascending
        self._halt = threading.Event()

    def run(self) -> None:
        port = None
        while not self._halt.wait(SCRAPE_EVERY):
            if port is None:
                found = re.search(r"metric serves /metrics on port (\d+)", self._output())
                port = int(found.group(1)) if found else None
                continue
            # Only the histogram: a full scrape computes the quality windows too, a few ms
            # of the metric's GIL four times a second, which the measurement would add.
            url = f"http://127.0.0.1:{port}/metrics?name[]={LATENCY_HISTOGRAM}_bucket"
            # Not serving yet, or stopped already: the last scrape stands.
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as reply:
                self.buckets = _latency_buckets(reply.read().decode())

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def _output(self) -> str:
        try:
            return self.up_output.read_text(errors="replace")
        except OSError:
            return ""


def _latency_buckets(exposition: str) -> list[tuple[float, float]]:
    summed: dict[float, float] = {}
    for family in text_string_to_metric_families(exposition):
        if family.name != LATENCY_HISTOGRAM:
            continue
        for sample in family.samples:
            if sample.name == LATENCY_HISTOGRAM + "_bucket":
                le = float(sample.labels["le"])
                summed[le] = summed.get(le, 0.0) + sample.value
    return sorted(summed.items())


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """As PromQL's histogram_quantile: linear inside the bucket that holds the rank; in the
    +Inf bucket, the highest finite bound."""
    if not buckets or buckets[-1][1] == 0:
        return math.nan
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def share_within(bound: float, buckets: list[tuple[float, float]]) -> float:
    """The share of observations at or below `bound`, exact when it is a bucket bound."""
    total = buckets[-1][1] if buckets else 0.0
    within = next((count for le, count in buckets if math.isclose(le, bound)), math.nan)
    return within / total if total else math.nan


# --- the disk's own stalls --------------------------------------------------------------------

PROBE_EVERY = 0.05  # seconds between the probe's fsyncs: a stall longer than this is caught
STALL = 0.02  # seconds: an fsync slower than this is counted as a stall


class DiskProbe(threading.Thread):
    """A small write and fsync every PROBE_EVERY seconds beside the pipeline, on the same
    filesystem as its logs (and the broker's, on this machine): when the device stalls, every
    durable path waits, mlmon's rows included, and this shows whether it did (20 fsyncs a
    second, against the pipeline's hundreds). It catches a stall of L ms with a chance of
    about L / 50: the long ones, not every short one."""

    def __init__(self, directory: Path) -> None:
        super().__init__(name="disk-probe", daemon=True)
        self.path = directory / "disk-probe"
        self.fsyncs: list[tuple[float, float]] = []  # (wall-clock start, seconds)
        self._halt = threading.Event()

    def run(self) -> None:
        with self.path.open("wb") as handle:
            while not self._halt.wait(PROBE_EVERY):
                handle.seek(0)
                handle.write(b"x")
                handle.flush()
                wall, started = time.time(), time.perf_counter()
                os.fsync(handle.fileno())
                self.fsyncs.append((wall, time.perf_counter() - started))

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def summary(self, span: tuple[float, float] | None) -> str:
        """The fsyncs that ended inside `span` (the measured one: stalls while the services
        start or drain delay no record)."""
        if span is None:
            return "no measured span"
        inside = [d for wall, d in self.fsyncs if span[0] <= wall + d and wall <= span[1]]
        if not inside:
            return "no fsyncs inside the measured span"
        ms = np.array(inside) * 1000
        stalls = ms[ms >= STALL * 1000]
        return (
            f"{len(ms)} fsyncs in the measured span, p50 {np.percentile(ms, 50):.2f} ms, "
            f"max {ms.max():.1f} ms; {len(stalls)} over {STALL * 1000:.0f} ms"
            + (f" ({', '.join(f'{v:.0f}' for v in sorted(stalls, reverse=True)[:8])} ms)"
               if len(stalls) else "")
        )  # fmt: skip


# --- one pipeline run -------------------------------------------------------------------------


@dataclass
class Result:
    run: Run
    rows: int = 0
    unique: int = 0
    records_per_s: float = math.nan
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    wall: float = math.nan
    exit_code: int | None = None
    processes: dict[str, tuple[float, float, int]] = field(default_factory=dict)  # cpu, MB, n
    broker_cpu: float | None = None
    limit: dict[str, Any] | None = None
    log_tail: str = ""
    coarse_sent_at: bool = False  # sent_at in the CSV has no sub-second part (float32)
    measured: tuple[float, float] | None = None  # the wall-clock span records/s is over
    cpu_in_span: dict[str, float] = field(default_factory=dict)  # CPU seconds in that span
    durable: list[tuple[float, float]] = field(default_factory=list)  # latency histogram
    disk: str = ""  # the disk probe's summary (rate-limited runs)
    model_alone: float | None = None  # rich runs: the model file's own CPU us per record
    # The metric logs' rows as read, before `finish_log` measures them.
    ids: set[str] = field(default_factory=set)
    sent: list[float] = field(default_factory=list)
    joined: list[float] = field(default_factory=list)

    def finish_log(self) -> None:
        _measure_log(self)
        self.ids, self.sent, self.joined = set(), [], []

    @property
    def durable_count(self) -> int:
        return int(self.durable[-1][1]) if self.durable else 0

    def durable_ms(self, q: float) -> float:
        return histogram_quantile(q, self.durable) * 1000

    @property
    def ratio(self) -> float:
        if not self.limit:
            return math.nan
        return float(self.records_per_s / self.limit["records_per_s"])


QUIET_BROKER = 0.1  # cores: below this the broker is taken to be idle
QUIET_PATIENCE = 30.0  # seconds to wait for it at most


def settle() -> float:
    """Let the machine finish what a previous run left it before measuring the next: the
    kernel's writeback of its dirty pages (a broker limit run writes a lot of queue segments,
    which Linux would otherwise write out up to 30 s later, during the next run, beside the
    metric's fsyncs), and the broker's deleting and compacting of its queues (CPU it would
    take from the next run). Returns the seconds waited."""
    started = time.monotonic()
    os.sync()
    before = broker_cpu_seconds()
    while before is not None and time.monotonic() - started < QUIET_PATIENCE:
        time.sleep(0.5)
        after = broker_cpu_seconds()
        if after is None or after - before < QUIET_BROKER * 0.5:
            break
        before = after
    return time.monotonic() - started


def run_pipeline(url: str, run: Run, batch: int | None, timeout: float, keep: bool) -> Result:
    waited = settle()
    if waited > 1:
        print(f"  waited {waited:.1f}s for the disk and the broker to settle", flush=True)
    tag = uuid.uuid4().hex[:10]
    queues = {kind: f"mlmon-bench-{tag}-{kind}" for kind in ("features", "y_true", "y_pred")}
    logs = Path(tempfile.mkdtemp(prefix=f"mlmon-bench-{tag}-"))
    env = {
        **os.environ,
        "MLMON_QUEUE_FEATURES": queues["features"],
        "MLMON_QUEUE_Y_TRUE": queues["y_true"],
        "MLMON_QUEUE_Y_PRED": queues["y_pred"],
        "MLMON_WIRE_FORMAT": run.form,
    }
    if batch is not None:
        env["MLMON_BATCH_SIZE"] = str(batch)
    if run.rate:  # latency runs: the metric's /metrics tells when each row was durable
        env["MLMON_METRICS_PORT"] = str(_free_port_range(8))
    argv = [
        sys.executable, "-m", "mlmon", "up", "--broker", url,
        "--count", str(run.count), "--rate", f"{run.rate:g}", "--logs", str(logs),
        "--model-workers", str(run.workers), "--metric-workers", str(run.metric_workers),
        "--no-dashboard",  # the page's process would share the 2 cores being measured
    ]  # fmt: skip
    result = Result(run)
    if run.rich:
        dataset, model = rich_inputs(logs / "rich", estimator=run.model)
        result.model_alone = model_alone(dataset, model)
        argv += ["--dataset", str(dataset), "--target", "species", "--model", str(model)]
        argv += ["--tag-columns", "region,device"]
        if run.estimated:
            env["MLMON_REFERENCE"] = str(dataset)
    output = logs / "up.out"
    try:
        broker0 = broker_cpu_seconds()
        started = time.monotonic()
        with output.open("wb") as out:
            process = subprocess.Popen(
                argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            sampler = Sampler(process.pid)
            sampler.start()
            scraper, probe = LatencyScraper(output), DiskProbe(logs)
            if run.rate:
                scraper.start()
                probe.start()
            try:
                result.exit_code = process.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"  timeout after {timeout:.0f}s: interrupting mlmon up", file=sys.stderr)
                process.send_signal(signal.SIGINT)  # the process we started: it drains and stops
                try:
                    result.exit_code = process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    result.exit_code = process.wait()
            finally:
                sampler.stop()
                for thread in (scraper, probe):
                    if thread.is_alive():
                        thread.stop()
        result.durable = scraper.buckets
        result.wall = time.monotonic() - started
        broker1 = broker_cpu_seconds()
        if broker0 is not None and broker1 is not None:
            result.broker_cpu = broker1 - broker0
        result.processes = _by_service(sampler.seen)
        for path in metric_logs(logs):  # one, or each metric worker's shard
            _read_metric_log(path, result)
        result.finish_log()
        if result.measured is not None:
            result.cpu_in_span = sampler.cpu_between(*result.measured)
        if run.rate:
            result.disk = probe.summary(result.measured)
        if result.exit_code != 0 or result.rows < run.count:
            result.log_tail = "\n".join(output.read_text(errors="replace").splitlines()[-15:])
    finally:
        names = [*queues.values(), *(q + DEAD_SUFFIX for q in queues.values())]
        shards = [
            f"{queues[kind]}.{k}-of-{run.metric_workers}{dead}"
            for kind in ("y_true", "y_pred")
            for k in range(1, run.metric_workers + 1)
            for dead in ("", DEAD_SUFFIX)
        ]
        asyncio.run(delete_queues(url, names + (shards if run.metric_workers > 1 else [])))
        if keep:
            print(f"  logs kept in {logs}")
        else:
            shutil.rmtree(logs, ignore_errors=True)
    return result


def rich_inputs(
    directory: Path, rows: int = 5_000, estimator: Estimator = "boosting"
) -> tuple[Path, Path]:
    """A dataset of 10 numeric and 3 categorical features (some missing), 2 tag columns and a
    three-class target, and an ONNX classifier (imputation, one-hot, gradient boosting or a
    logistic regression) fitted on the features by `mlmon train`'s own code."""
    from mlmon.model.training import train_pipeline

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    numbers = rng.normal(size=(rows, 10))
    islands = rng.choice(["Biscoe", "Dream", "Torgersen"], rows)
    sexes = rng.choice(["female", "male", ""], rows)
    sites = rng.choice([f"site{i}" for i in range(8)], rows)
    regions = rng.choice(["eu", "us", "apac"], rows)
    devices = rng.choice(["ios", "android", "web", "tv"], rows)
    score = numbers[:, 0] + (islands == "Dream") - 0.5 * numbers[:, 1]
    species = np.where(score > 0.8, "Gentoo", np.where(score > -0.3, "Chinstrap", "Adelie"))
    path = directory / "rich.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [*(f"x{i}" for i in range(10)), "island", "sex", "site", "region", "device", "species"]
        )
        for i in range(rows):
            cells = ["" if (i + j) % 50 == 0 else f"{v:.4f}" for j, v in enumerate(numbers[i])]
            writer.writerow(
                [*cells, islands[i], sexes[i], sites[i], regions[i], devices[i], species[i]]
            )
    tags = ("region", "device")
    model = train_pipeline(
        directory / "rich.onnx", "onnx", path, "species", exclude=tags, estimator=estimator
    ).output
    return path, model


def model_alone(dataset: Path, model: Path, repeat: int = 5) -> float:
    """CPU microseconds a record the model file takes alone, on one thread, loaded as the model
    service loads it and fed the dataset's columns in batches of 5,000: the part of the
    pipeline's cost that is the model's, not mlmon's."""
    from mlmon.model.dataset import load_dataset
    from mlmon.model.predictors import load_model

    data = load_dataset(dataset, "species", tags=("region", "device"))
    predictor = load_model(model)
    columns = {name: data.columns[name] for name in predictor.feature_names or data.columns}
    predictor.predict_columns(columns)  # warm
    started = time.process_time()
    for _ in range(repeat):
        predictor.predict_columns(columns)
    return (time.process_time() - started) / (repeat * len(data.target)) * 1e6


def _by_service(seen: dict[int, ProcessSample]) -> dict[str, tuple[float, float, int]]:
    """Per name: CPU seconds summed over processes (restarts, workers), peak RSS max, count."""
    out: dict[str, tuple[float, float, int]] = {}
    for sample in seen.values():
        name = sample.name.removeprefix("mlmon ")
        cpu, mb, n = out.get(name, (0.0, 0.0, 0))
        out[name] = (cpu + sample.cpu, max(mb, sample.hwm, sample.rss_peak), n + 1)
    return out


def _free_port_range(size: int) -> int:
    """A base port with `size` free ports from it (`mlmon up` gives each process one)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + size <= 65535 and all(_port_free(base + i) for i in range(size)):
            return base
    raise BenchError("no range of free ports for the services' /metrics")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - where the services will listen
        except OSError:
            return False
    return True


def _read_metric_log(path: Path, result: Result) -> None:
    """Gather one log's (or log shard's) rows into `result`; `finish_log` then measures."""
    if not path.exists():
        return
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            result.rows += 1
            result.ids.add(row["id"])
            try:
                s, j = float(row["sent_at"]), float(row["joined_at"])
            except (TypeError, ValueError):
                continue  # a record without a sent_at: counted, not timed
            if math.isfinite(s) and math.isfinite(j):
                result.sent.append(s)
                result.joined.append(j)


def _measure_log(result: Result) -> None:
    rows, sent, joined = result.rows, result.sent, result.joined
    result.unique = len(result.ids)
    if not sent:
        return
    sent_at, joined_at = np.array(sent), np.array(joined)
    if len(sent_at) > 10 and np.mean(sent_at != np.round(sent_at)) < 0.01:
        # No sub-second part: sent_at went through a 32-bit float (an AMQP 'f' header field
        # keeps 24 bits: 128 s steps today), so latencies are meaningless; time the joins only.
        result.coarse_sent_at = True
        result.measured = float(joined_at.min()), float(joined_at.max())
        span = float(joined_at.max() - joined_at.min())
        result.records_per_s = rows / span if span > 0 else math.nan
        return
    result.measured = float(sent_at.min()), float(joined_at.max())
    span = float(joined_at.max() - sent_at.min())
    result.records_per_s = rows / span if span > 0 else math.nan
    latency = (joined_at - sent_at) * 1000
    result.p50_ms = float(np.percentile(latency, 50))
    result.p99_ms = float(np.percentile(latency, 99))
    result.max_ms = float(latency.max())


# --- the report -------------------------------------------------------------------------------


def header(url: str) -> str:
    def git(*args: str) -> str:
        executable = shutil.which("git")
        if executable is None:
            return "?"
        try:
            return subprocess.run(
                [executable, *args], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "?"

    commit = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--", "src")
    if dirty and dirty != "?":
        commit += f" + uncommitted changes in {len(dirty.splitlines())} src/ file(s)"
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    rabbit = asyncio.run(_server_version(url))
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return (
        f"mlmon bench_pipeline  commit {commit}  {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        f"cores {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), {model}; "
        f"load avg {load}; Python {platform.python_version()}; aio-pika "
        f"{aio_pika.__version__}; RabbitMQ {rabbit}"
    )


async def _server_version(url: str) -> str:
    try:
        connection = await aio_pika.connect(url, timeout=10)
    except Exception as error:  # a header line, not the measurement
        return f"unreachable ({error!r})"
    async with connection:
        version = connection.transport.connection.server_properties.get("version", "?")
        return version.decode() if isinstance(version, bytes) else str(version)


def _cell(value: float, spec: str) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (format(value, spec))
    )


def table(results: list[Result]) -> str:
    names = [n for n in SERVICES if any(n in r.processes for r in results)]
    names += sorted({n for r in results for n in r.processes} - set(names))
    columns = [
        ("form", 7), ("records", 8), ("rate", 6), ("wk", 2), ("rows", 8), ("records/s", 10),
        ("p50 ms", 8), ("p99 ms", 8), ("dur p50", 7), ("dur p99", 7), ("<=25ms", 7),
        ("limit rec/s", 11), ("ratio", 6), ("wall s", 6),
        *((f"{n} s/MB", max(11, len(n) + 5)) for n in names), ("rabbit s", 8),
    ]  # fmt: skip
    lines = [" ".join(f"{title:>{width}}" for title, width in columns)]
    for r in results:
        cells = [
            r.run.form, str(r.run.count), f"{r.run.rate:g}", str(r.run.workers), str(r.rows),
            _cell(r.records_per_s, ",.0f") + ("*" if r.coarse_sent_at else ""),
            _cell(r.p50_ms, ",.1f"), _cell(r.p99_ms, ",.1f"),
            _cell(r.durable_ms(0.5), ",.1f"), _cell(r.durable_ms(0.99), ",.1f"),
            _cell(share_within(TARGET_P99, r.durable) * 100, ".2f"),
            _cell(r.limit["records_per_s"] if r.limit else math.nan, ",.0f"),
            _cell(r.ratio if r.run.rate == 0 else math.nan, ".3f"), _cell(r.wall, ".1f"),
        ]  # fmt: skip
        for name in names:
            if name in r.processes:
                cpu, mb, n = r.processes[name]
                times = f"x{n} " if n > 1 else ""
                cells.append(f"{times}{cpu:.1f}/{mb:.0f}")
            else:
                cells.append("-")
        cells.append(_cell(r.broker_cpu if r.broker_cpu is not None else math.nan, ".1f"))
        lines.append(" ".join(f"{c:>{w}}" for c, (_, w) in zip(cells, columns, strict=True)))
    return "\n".join(lines)


def span_cpu(result: Result) -> str:
    """Where the measured span's CPU went: what bounds records/s on a machine with few cores."""
    if result.measured is None or not result.cpu_in_span:
        return "-"
    span = result.measured[1] - result.measured[0]
    used = sorted(result.cpu_in_span.items(), key=lambda item: -item[1])
    total = sum(cpu for _, cpu in used)
    cores = len(os.sched_getaffinity(0))
    parts = ", ".join(f"{name} {cpu:.2f}" for name, cpu in used if cpu >= 0.005)
    return f"span {span:.2f} s x {cores} cores = {span * cores:.2f}; used {total:.2f}: {parts}"


def limit_table(limits: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"{'form':<8} {'queue':<7} {'records':>9} {'messages':>8} {'body B':>8} {'window':>6} "
        f"{'seconds':>7} {'msg/s':>9} {'records/s':>11} {'MB/s':>6}"
    ]
    for r in limits.values():
        lines.append(
            f"{r['form']:<8} {r['queue_type']:<7} {r['records']:>9} {r['messages']:>8} "
            f"{r['body_bytes']:>8.0f} {r['window']:>6} {r['seconds']:>7.2f} "
            f"{r['messages_per_s']:>9,.0f} {r['records_per_s']:>11,.0f} {r['mb_per_s']:>6.1f}"
        )
    return "\n".join(lines)


# --- command line -----------------------------------------------------------------------------


def pipeline_batch_size() -> int:
    """The batch size mlmon runs with (its default, or MLMON_BATCH_SIZE): the limit uses it."""
    from mlmon.settings import Settings

    return Settings().batch_size


def plan(args: argparse.Namespace) -> list[Run]:
    runs = []
    for run in SCENARIOS[args.scenario]:
        count = args.records or run.count
        rate = run.rate if args.rate is None else args.rate
        if args.records is None and run.rate and args.rate is not None:
            count = int(args.rate * run.count / run.rate)  # keep the latency run's 20 s
        runs.append(
            Run(run.form, count, rate, run.workers, run.rich, run.estimated, model=args.rich_model)
        )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="throughput")
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--records", type=int, help="override every run's record count")
    parser.add_argument("--rate", type=float, help="override every run's rate (0 = flat out)")
    parser.add_argument("--batch", type=int, help="MLMON_BATCH_SIZE and the limit's batch")
    parser.add_argument("--window", type=int, default=256, help="broker limit: confirms window")
    parser.add_argument("--queue-type", choices=["quorum", "classic"], default="quorum")
    parser.add_argument(
        "--limit-records", type=int,
        help="records for the broker limit (default: the run's count for single, "
        "max(count, 2,000,000) for batched so the measurement lasts a few seconds)",
    )  # fmt: skip
    parser.add_argument("--no-limit", action="store_true", help="skip the broker limit")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per pipeline run")
    parser.add_argument("--keep-logs", action="store_true", help="keep each run's logs dir")
    parser.add_argument(
        "--rich-model", choices=["boosting", "linear"], default="boosting",
        help="rich runs: gradient boosting (mlmon train's default) or a logistic regression",
    )  # fmt: skip
    args = parser.parse_args()

    if args.queue_type != "quorum":
        os.environ["MLMON_QUEUE_TYPE"] = args.queue_type
    heading = header(args.url)
    print(heading, flush=True)
    runs = plan(args)
    limits: dict[str, dict[str, Any]] = {}
    results: list[Result] = []
    for run in runs:
        if not args.no_limit and run.form not in limits:
            records = args.limit_records or (
                run.count if run.form == "single" else max(run.count, 2_000_000)
            )
            print(f"broker limit: {run.form}, {records:,} records ...", flush=True)
            try:
                limits[run.form] = measure_broker_limit(
                    args.url,
                    run.form,
                    records,
                    args.batch or pipeline_batch_size(),
                    args.window,
                    args.queue_type,
                )
            except BenchError as error:
                print(f"  broker limit failed: {error}", file=sys.stderr)
        print(f"pipeline: {run.label} ...", flush=True)
        result = run_pipeline(args.url, run, args.batch, args.timeout, args.keep_logs)
        if result.exit_code != 0 and result.rows < run.count:
            print(f"  mlmon up exited {result.exit_code}; retrying once:\n{result.log_tail}")
            result = run_pipeline(args.url, run, args.batch, args.timeout, args.keep_logs)
        result.limit = limits.get(run.form)
        results.append(result)
        print(
            f"  {result.rows} rows, {_cell(result.records_per_s, ',.0f')} records/s, "
            f"wall {result.wall:.1f}s, exit {result.exit_code}",
            flush=True,
        )
        if result.rows < run.count and result.log_tail:
            print(f"  incomplete run; mlmon up output ends:\n{result.log_tail}")

    print()
    print(heading)
    if limits:
        print("\nbroker limit (bench_broker: one queue, a bare producer + consumer process)")
        print(limit_table(limits))
    print(
        "\npipeline (records/s = rows / (max joined_at - min sent_at); p50/p99 ms = joined_at - "
        "sent_at, to\n  the second half's arrival at the metric; dur p50/p99 = to the row "
        "durably written, from the metric's\n  latency histogram (interpolated as "
        "histogram_quantile; rate-limited runs only); <=25ms = % of rows\n  durable within "
        "25 ms of their publish (exact: a bucket bound); <service> s/MB = CPU seconds / peak "
        "RSS MB,\n  xN = N processes; rabbit s = beam.smp CPU seconds during the run)"
    )
    print(table(results))
    print(
        "\nCPU seconds inside each run's measured span (first sent_at to last joined_at), "
        "from /proc samples every 0.2 s:"
    )
    for r in results:
        print(f"  {r.run.label}: {span_cpu(r)}")
    for r in results:
        if r.model_alone is not None:
            print(
                f"  {r.run.label}: the model file alone (onnxruntime, one thread, in this "
                f"process) {r.model_alone:.1f} us CPU a record"
            )
    for r in results:
        if r.disk:
            print(f"\ndisk probe during {r.run.label}: {r.disk}")
    # Exactly once: every record sent is one row, none twice (a duplicate and a lost record
    # would otherwise cancel out in the row count).
    for r in results:
        once = r.rows == r.unique == r.run.count
        verdict = "exactly once" if once else "NOT exactly once"
        print(
            f"\n{r.run.label}: {r.rows:,} rows, {r.unique:,} distinct ids, "
            f"{r.run.count:,} records sent: {verdict}"
        )
    for r in results:
        if r.run.rate and r.durable_count != r.rows:
            print(
                f"\n{r.run.label}: the last scrape of the latency histogram held "
                f"{r.durable_count:,} of {r.rows:,} rows"
            )
    if any(r.coarse_sent_at for r in results):
        print(
            "\n* sent_at in metric_log.csv has no sub-second part (it went through a 32-bit "
            "float: pamqp encodes a Python float header as AMQP 'f'), so latency is not "
            "reported and records/s = rows / (max joined_at - min joined_at)."
        )
    speedup = [r for r in results if r.run.form == "batched" and r.run.rate == 0]
    one = next((r for r in speedup if r.run.workers == 1), None)
    two = next((r for r in speedup if r.run.workers == 2), None)
    if one and two and one.records_per_s > 0:
        print(f"\nmodel workers 1 -> 2: speed-up x{two.records_per_s / one.records_per_s:.2f}")
    print(
        "\nratio = pipeline records/s / broker limit records/s; the pipeline moves every record "
        "through 3 queues (features, y_true, y_pred), the limit through 1; rate-limited runs "
        "have no ratio."
    )


if __name__ == "__main__":
    main()
