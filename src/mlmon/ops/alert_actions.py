"""Acting on alert transitions: a log line, an optional webhook POST, a Prometheus gauge."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import urllib.request
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlmon.monitoring.alert_rules import AlertEngine, Signals, Transition, parse_rules
from mlmon.ops.status import ServiceStats
from mlmon.settings import Settings

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = 5.0


class Alerting(Collector):
    """Evaluates the rules on a service's signals and tells the world when alerts change."""

    def __init__(self, settings: Settings, stats: ServiceStats) -> None:
        self.engine = AlertEngine(parse_rules(settings.alerts))
        self.webhook = settings.alert_webhook
        self.stats = stats
        self._lock = threading.Lock()

    @classmethod
    def for_service(cls, settings: Settings, stats: ServiceStats) -> Alerting | None:
        return cls(settings, stats) if settings.alerts.strip() else None

    async def check(self, signals: Signals, now: float) -> list[Transition]:
        with self._lock:
            changes = self.engine.evaluate(signals, now)
            firing = self.engine.firing()
        for change in changes:
            series = f" ({change.series})" if change.series else ""
            log.warning(
                "alert %s %s%s: %s is %g",
                change.state.upper(),
                change.rule.name,
                series,
                change.rule,
                change.value,
            )
            self.stats.counters[f"alerts_{change.state}"] += 1
        self.stats.details["alerts"] = [
            {
                "alert": name,
                "series": series,
                "value": value,
                # The rule, and since when its condition holds, for the dashboard to show.
                "rule": str(rule),
                "signal": rule.signal,
                "selector": rule.selector,
                "op": rule.op,
                "threshold": rule.threshold,
                "for_seconds": rule.for_seconds,
                "active_since": self.engine._since.get((name, series)),
            }
            for (name, series), value in sorted(firing.items())
            for rule in self.engine.rules
            if rule.name == name
        ]
        if self.webhook and changes:
            await asyncio.gather(*(asyncio.to_thread(self._post, c) for c in changes))
        return changes

    def _post(self, change: Transition) -> None:
        assert self.webhook is not None
        body = json.dumps(change.payload()).encode()
        request = urllib.request.Request(  # noqa: S310 - the setting only takes http(s) URLs
            self.webhook, body, {"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT):  # noqa: S310 - http(s) only
                pass
        except OSError as error:
            log.error("alert webhook %s failed: %s", self.webhook, error)
            self.stats.counters["alert_webhook_failures"] += 1

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "mlmon_alert_firing", "1 while the alert fires", labels=["alert", "series"]
        )
        with self._lock:
            firing = self.engine.firing()
            rules = self.engine.rules
        for rule in rules:
            series = [s for (name, s) in firing if name == rule.name]
            for one in series or [""]:
                family.add_metric([rule.name, one], 1.0 if series else 0.0)
        yield family
