"""Prometheus exposition: every mlmon metric in one container that takes a registry.

The services keep plain counters in their ServiceStats; `StatsCollector` turns them into
Prometheus families at scrape time (no second set of counters to keep in step). The metric
service also observes each row's absolute error and end-to-end latency in histograms labelled
by model name and version (never by record id: that would be one series per record).

Segment quality (per tag value) is exported as gauges by `segment_metrics`, fed the same rows.

Those histograms take a whole batch of rows at once (`BulkHistogram`): prometheus-client's
`Histogram.observe` takes one value under a lock, and three of those per row cost more than
everything else the metric service does per row.

The absolute error's buckets fit the target's scale (`error_buckets`): a fixed 1..1000 put
every error of a house-price model in +Inf. They are fixed for the life of the process, as
Prometheus requires (a bucket that moved would mix two meanings in one series): set by
MLMON_ERROR_BUCKETS, else log-spaced around the spread of the target in MLMON_REFERENCE or
MLMON_DATASET when one is set and readable, else log-spaced over 1e-3..1e7, which keeps
histogram_quantile within a bucket's width (a factor 10**(1/4)) over ten decades.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np
from prometheus_client import CollectorRegistry, Info, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from mlmon import __version__
from mlmon.arrays import Floats
from mlmon.errors import ConfigError, MlmonError
from mlmon.join.joined import Joined
from mlmon.model.dataset import load_dataset
from mlmon.ops.segment_metrics import SegmentMetrics
from mlmon.ops.status import ServiceStats
from mlmon.settings import Settings, env_name

log = logging.getLogger(__name__)

# What each ServiceStats counter means, as Prometheus help text; unknown ones still export.
COUNTER_HELP = {
    "sent": "records published by features (features and true value, confirmed)",
    "predicted": "records predicted and published by model",
    "joined": "rows written to metric_log.csv",
    "dead_lettered": "messages or records sent to a dead-letter queue",
    "duplicates": "halves recognised as redeliveries or repeats and ignored",
    "orphans": "halves expired without meeting their partner",
    "held_to_store": "messages whose halves waited too long in memory and went to the join store",
    "renders": "PNG renders by plot",
}
BUCKETS_PER_DECADE = 4  # bounds 1, 1.8, 3.2, 5.6, 10, ...: a quantile within a factor 1.8
WIDE_ERROR_DECADES = (-3, 7)  # when the target's scale is unknown: 1e-3 .. 1e7
CLASSIFICATION_ERROR_BUCKETS = (0.0, 1.0)  # errors are 0 (right) or 1 (wrong)
MAX_ERROR_BUCKETS = 100  # each bound is one series per model and version
LABEL_DELAY_BUCKETS = (0.01, 0.1, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 21600, 86400)
# Fine around tens of milliseconds, where a live pipeline's tail sits, so that
# histogram_quantile's interpolation inside a bucket stays close to the true quantile.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075,
    0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
)  # fmt: skip


def log_buckets(low_decade: int, high_decade: int) -> tuple[float, ...]:
    """BUCKETS_PER_DECADE bounds a decade from 10**low_decade to 10**high_decade, rounded to
    two significant digits (bounds read as `le="3.2"`, not `le="3.1622776601683795"`)."""
    steps = range(low_decade * BUCKETS_PER_DECADE, high_decade * BUCKETS_PER_DECADE + 1)
    return tuple(float(f"{10 ** (step / BUCKETS_PER_DECADE):.2g}") for step in steps)


WIDE_ERROR_BUCKETS = log_buckets(*WIDE_ERROR_DECADES)


def buckets_for_target(target: Floats) -> tuple[float, ...]:
    """Log-spaced bounds from a thousandth of the target's spread (a good model's small
    errors) to ten times its largest magnitude (a broken model's); the wide default when the
    target has no finite spread."""
    values = target[np.isfinite(target)]
    spread = float(values.std()) if values.size else 0.0
    if not spread > 0:
        return WIDE_ERROR_BUCKETS
    top = max(spread, float(np.abs(values).max()))
    return log_buckets(math.floor(math.log10(spread)) - 3, math.ceil(math.log10(top)) + 1)


def parse_error_buckets(text: str) -> tuple[float, ...]:
    """MLMON_ERROR_BUCKETS: finite bounds >= 0, ascending, separated by commas or spaces."""
    variable = env_name("error_buckets")
    parts = text.replace(",", " ").strip(" []").split()
    try:
        bounds = tuple(float(part) for part in parts)
    except ValueError:
        bounds = ()
    usable = all(math.isfinite(b) and b >= 0 for b in bounds) and all(
        a < b for a, b in itertools.pairwise(bounds)
    )
    if not bounds or not usable or len(bounds) > MAX_ERROR_BUCKETS:
        msg = (
            f"{variable}={text!r}: give 1 to {MAX_ERROR_BUCKETS} ascending finite numbers >= 0, "
            "e.g. `100,1000,10000,100000` (+Inf is always added); or unset it for buckets "
            "fitted to the target's scale"
        )
        raise ConfigError(msg)
    return bounds


def error_buckets(settings: Settings, fit: bool = True) -> tuple[tuple[float, ...], str]:
    """The absolute-error histogram's bounds for this process, and where they come from.

    The target's scale is read only with `fit` (the metric service's process) and only from
    a dataset named explicitly: a metric service started without MLMON_DATASET cannot know
    what features streams (in compose they are separate containers), so it takes the wide
    default rather than the diabetes set's scale."""
    if settings.error_buckets.strip():
        return parse_error_buckets(settings.error_buckets), env_name("error_buckets")
    if settings.task == "classification":
        return CLASSIFICATION_ERROR_BUCKETS, "classification: errors are 0 or 1"
    path = settings.reference or settings.dataset
    if fit and path is not None:
        try:
            target = load_dataset(path, settings.target).target
        except (MlmonError, OSError, ValueError) as error:  # metrics must not stop the work
            log.warning("error buckets: cannot read the target of %s (%s); wide ones", path, error)
        else:
            return buckets_for_target(target), f"the scale of {settings.target!r} in {path}"
    return WIDE_ERROR_BUCKETS, "the wide default"


class StatsCollector(Collector):
    """Exports services' counters as `mlmon_<name>_total` and gauges as `mlmon_<name>`.

    Several instances of one service in a process (the embedded `up` with a champion and
    challengers) are summed under their service label; `mlmon_ready` is 1 when all are ready.
    """

    def __init__(self, stats: Sequence[ServiceStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        counted: dict[str, dict[str, float]] = {}
        levels: dict[str, dict[str, float]] = {}
        ready: dict[str, float] = {}
        lag: dict[tuple[str, str], int] = {}
        for stats in self._stats:
            service = stats.service
            for name, count in stats.counters.items():
                by_service = counted.setdefault(name, {})
                by_service[service] = by_service.get(service, 0) + count
            for name, level in stats.gauges.items():
                by_service = levels.setdefault(name, {})
                by_service[service] = by_service.get(service, 0.0) + level
            ready[service] = min(ready.get(service, 1.0), 1.0 if stats.is_ready() else 0.0)
            for queue, depth in stats.queue_depths.items():
                lag[service, queue] = max(lag.get((service, queue), 0), depth)
        for name, by_service in counted.items():
            family = CounterMetricFamily(
                f"mlmon_{name}", COUNTER_HELP.get(name, name), labels=["service"]
            )
            for service, value in by_service.items():
                family.add_metric([service], value)
            yield family
        for name, by_service in levels.items():
            gauge = GaugeMetricFamily(f"mlmon_{name}", name, labels=["service"])
            for service, value in by_service.items():
                gauge.add_metric([service], value)
            yield gauge
        readiness = GaugeMetricFamily(
            "mlmon_ready", "1 when the service is ready", labels=["service"]
        )
        for service, value in ready.items():
            readiness.add_metric([service], value)
        yield readiness
        depths = GaugeMetricFamily(
            "mlmon_queue_messages_ready",
            "messages waiting in a queue this service consumes (its lag)",
            labels=["service", "queue"],
        )
        for (service, queue), depth in lag.items():
            depths.add_metric([service, queue], depth)
        yield depths


class MergedCollector(Collector):
    """Several collectors of the same kind (one per model) as one: their families merged by
    name, since a registry must not see one metric name twice."""

    def __init__(self, collectors: Sequence[Collector]) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for collector in self._collectors:
            for family in collector.collect():
                if family.name in families:
                    families[family.name].samples.extend(family.samples)
                else:
                    families[family.name] = family
        yield from families.values()


class BulkHistogram(Collector):
    """A Prometheus histogram fed arrays of observations, exported through the public
    custom-collector API: same buckets (`le` is inclusive), `_count`, `_sum` as
    prometheus-client's own. NaN observations are left out."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self.name, self.documentation = name, documentation
        self.labelnames = list(labelnames)
        self._bounds = np.array([*buckets, math.inf], dtype=np.float64)
        self._les: list[str] = [floatToGoString(bound) for bound in self._bounds]  # type: ignore[no-untyped-call]
        # labels -> (counts per bucket, not cumulative; [sum])
        self._series: dict[tuple[str, ...], tuple[np.ndarray, list[float]]] = {}
        self._lock = threading.Lock()  # scrapes run in the HTTP server's thread
        registry.register(self)

    def observe_many(self, labels: tuple[str, ...], values: np.ndarray) -> None:
        values = values[~np.isnan(values)]
        # The first bound >= the value: the bucket whose `le` takes it.
        index = np.searchsorted(self._bounds, values, side="left")
        counts = np.bincount(index, minlength=self._bounds.size)
        total = float(values.sum())
        with self._lock:
            series = self._series.get(labels)
            if series is None:
                series = self._series[labels] = (np.zeros(self._bounds.size, np.int64), [0.0])
            series[0][:] += counts
            series[1][0] += total

    def describe(self) -> Iterator[Metric]:
        """Its name, so that a scrape can ask for it alone (`?name[]=<name>_bucket`)."""
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        with self._lock:
            series = [
                (labels, np.cumsum(c).tolist(), s[0]) for labels, (c, s) in self._series.items()
            ]
        for labels, cumulative, total in series:
            family.add_metric(list(labels), list(zip(self._les, cumulative, strict=True)), total)
        yield family


class Telemetry:
    """The registry and the histograms of one process."""

    def __init__(
        self,
        stats: Sequence[ServiceStats],
        registry: CollectorRegistry | None = None,
        error_buckets: Sequence[float] = WIDE_ERROR_BUCKETS,
        classification: bool = False,
    ) -> None:
        self.classification = classification  # every row's error 0/1, as the log writes it
        self.registry = registry or CollectorRegistry()
        self.registry.register(StatsCollector(stats))
        Info("mlmon_build", "mlmon version", registry=self.registry).info({"version": __version__})
        by_model = ("model", "model_version")
        self.absolute_error = BulkHistogram(
            "mlmon_absolute_error",
            "absolute error of each joined record",
            by_model,
            error_buckets,
            self.registry,
        )
        self.label_delay = BulkHistogram(
            "mlmon_label_delay_seconds",
            "from a prediction's arrival to its true value's (0 when the label came first)",
            by_model,
            LABEL_DELAY_BUCKETS,
            self.registry,
        )
        self.latency = BulkHistogram(
            "mlmon_end_to_end_latency_seconds",
            "from features publish to the row durably written (after its fsync)",
            by_model,
            LATENCY_BUCKETS,
            self.registry,
        )
        self.segments = SegmentMetrics(self.registry)

    @classmethod
    def for_settings(cls, settings: Settings, stats: Sequence[ServiceStats]) -> Telemetry:
        """The telemetry of a process running `stats`' services: the error buckets fitted to
        the target's scale where a metric service joins rows (the only one observing them)."""
        fit = any(s.service == "metric" for s in stats)
        buckets, source = error_buckets(settings, fit=fit)
        if fit:
            log.info(
                "mlmon_absolute_error: %d buckets, %g to %g (%s)",
                len(buckets), buckets[0], buckets[-1], source,
            )  # fmt: skip
        return cls(stats, error_buckets=buckets, classification=settings.task == "classification")

    def observe(self, joined: Joined, written_at: float) -> None:
        """Each joined record's error, label delay and latency, in its model's histograms.

        The latency runs to `written_at`, when the rows were durable, not to `joined_at`, when
        the half that completed them arrived: the wait for the lock and the fsyncs count."""
        if not joined:
            return
        errors = joined.errors(self.classification)
        # A label that came before its prediction waited for nothing: it counts as 0.
        delays = np.maximum(joined.column("label_delay"), 0.0)
        latency = np.maximum(written_at - joined.column("sent_at"), 0.0)  # NaN: unknown
        groups = _rows_by_model(joined)
        for labels, rows in groups.items():
            self.absolute_error.observe_many(labels, errors[rows])
            self.label_delay.observe_many(labels, delays[rows])
            self.latency.observe_many(labels, latency[rows])
        self.segments.observe(joined, errors, self.classification, groups)

    def serve(self, port: int, address: str = "0.0.0.0") -> bool:  # noqa: S104 - a container's port
        """Serve /metrics; a port in use is logged, not fatal: monitoring must not stop work."""
        try:
            start_http_server(port, address, registry=self.registry)
        except OSError as error:
            log.error("cannot serve /metrics on port %d: %s; carrying on without it", port, error)
            return False
        log.info("serving Prometheus metrics on http://%s:%d/metrics", address, port)
        return True


def _rows_by_model(joined: Joined) -> dict[tuple[str, str], slice | np.ndarray]:
    """The rows of each (model, version): usually one model, so every row."""
    one = joined.one_model()
    if one is not None:
        return {one: slice(None)}
    rows: dict[tuple[str, str], list[int]] = defaultdict(list)
    for row, labels in enumerate(zip(joined.models, joined.versions, strict=True)):
        rows[labels].append(row)
    return {labels: np.array(positions) for labels, positions in rows.items()}
