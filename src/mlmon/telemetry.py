"""Prometheus exposition: every mlmon metric in one container that takes a registry.

The services keep plain counters in their ServiceStats; `StatsCollector` turns them into
Prometheus families at scrape time (no second set of counters to keep in step). The metric
service also observes each row's absolute error and end-to-end latency in histograms labelled
by model name and version (never by record id: that would be one series per record).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, Info, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlmon import __version__
from mlmon.hot_join import Joined
from mlmon.status import ServiceStats

log = logging.getLogger("mlmon.telemetry")

# What each ServiceStats counter means, as Prometheus help text; unknown ones still export.
COUNTER_HELP = {
    "sent": "records published by features (features and true value, confirmed)",
    "predicted": "records predicted and published by model",
    "joined": "rows written to metric_log.csv",
    "dead_lettered": "messages or records sent to a dead-letter queue",
    "duplicates": "halves recognised as redeliveries or repeats and ignored",
    "orphans": "halves expired without meeting their partner",
    "renders": "PNG renders by plot",
}
ERROR_BUCKETS = (1, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 80, 100, 150, 200, 300, 500, 1000)
LABEL_DELAY_BUCKETS = (0.01, 0.1, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 21600, 86400)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


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


class Telemetry:
    """The registry and the histograms of one process."""

    def __init__(
        self, stats: Sequence[ServiceStats], registry: CollectorRegistry | None = None
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.registry.register(StatsCollector(stats))
        Info("mlmon_build", "mlmon version", registry=self.registry).info({"version": __version__})
        self.absolute_error = Histogram(
            "mlmon_absolute_error",
            "absolute error of each joined record",
            ["model", "model_version"],
            buckets=ERROR_BUCKETS,
            registry=self.registry,
        )
        self.label_delay = Histogram(
            "mlmon_label_delay_seconds",
            "from a prediction's arrival to its true value's (0 when the label came first)",
            ["model", "model_version"],
            buckets=LABEL_DELAY_BUCKETS,
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlmon_end_to_end_latency_seconds",
            "from features publish to row written",
            ["model", "model_version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, joined: Joined) -> None:
        """Each joined record's error, label delay and latency, in its model's histograms."""
        children: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        for model, version, error, delay, sent_at, joined_at in zip(
            joined.models,
            joined.versions,
            joined.absolute_errors(),
            joined.label_delay,
            joined.sent_at,
            joined.joined_at,
            strict=True,
        ):
            histograms = children.get((model, version))
            if histograms is None:  # labels() takes a lock and a lookup: once per batch
                histograms = children[model, version] = (
                    self.absolute_error.labels(model, version),
                    self.label_delay.labels(model, version),
                    self.latency.labels(model, version),
                )
            histograms[0].observe(error)
            # A label that came before its prediction waited for nothing: it counts as 0.
            histograms[1].observe(max(delay, 0.0))
            if sent_at is not None:
                histograms[2].observe(max(joined_at - sent_at, 0.0))

    def serve(self, port: int, address: str = "0.0.0.0") -> bool:  # noqa: S104 - a container's port
        """Serve /metrics; a port in use is logged, not fatal: monitoring must not stop work."""
        try:
            start_http_server(port, address, registry=self.registry)
        except OSError as error:
            log.error("cannot serve /metrics on port %d: %s; carrying on without it", port, error)
            return False
        log.info("serving Prometheus metrics on http://%s:%d/metrics", address, port)
        return True
