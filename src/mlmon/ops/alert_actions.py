"""Acting on alert transitions: a log line, a notification queued for the webhook, a gauge.

The notifications (which, in which format, their delivery) live in ops/notifications.py; here
they are only queued, so a check never waits on the network.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlmon.monitoring.alert_rules import (
    CHANGE_SIGNALS,
    AlertEngine,
    Rule,
    Signals,
    Transition,
    parse_rules,
)
from mlmon.monitoring.quality.bucket_selector import BUCKET_SIGNALS, is_bucket_selector
from mlmon.ops.alert_payloads import render, text_message
from mlmon.ops.notifications import (
    Delivery,
    NotifyPolicy,
    Transport,
    apprise_transport,
    http_transport,
)
from mlmon.ops.status import ServiceStats
from mlmon.settings import Settings

log = logging.getLogger(__name__)

CHANGE_RULE = "change-point: change_points[any] > 0"  # notify of each model's change points


class Alerting(Collector):
    """Evaluates the rules on a service's signals and tells the world when alerts change."""

    def __init__(
        self,
        settings: Settings,
        stats: ServiceStats,
        transport: Transport | None = None,
        rules: tuple[Rule, ...] | None = None,
    ) -> None:
        self.engine = AlertEngine(parse_rules(settings.alerts) if rules is None else rules)
        self.webhook = settings.alert_webhook
        self.stats = stats
        self.policy = NotifyPolicy(settings.alert_repeat_interval)
        self.form = settings.alert_format
        self.dashboard_url = settings.dashboard_url
        self.delivery: Delivery | None = None  # the webhook's
        self.channels: Delivery | None = None  # apprise's, MLMON_ALERT_NOTIFY
        if transport is None and self.webhook:
            transport = http_transport(self.webhook)
        if transport is not None:
            self.delivery = Delivery(
                transport,
                stats.counters,
                attempts=settings.alert_retries,
                queue_size=settings.alert_queue_size,
                target=self.webhook or "the alert transport",
            )
        if settings.alert_notify:
            self.channels = Delivery(
                apprise_transport(settings.alert_notify),
                stats.counters,
                attempts=settings.alert_retries,
                queue_size=settings.alert_queue_size,
                target="MLMON_ALERT_NOTIFY",
            )
        self._lock = threading.Lock()

    @classmethod
    def for_service(cls, settings: Settings, stats: ServiceStats) -> Alerting | None:
        return cls(settings, stats) if settings.alerts.strip() else None

    @classmethod
    def for_plot(cls, settings: Settings, stats: ServiceStats) -> Alerting | None:
        """The plot service's: the rules (it gives the change point and bucket signals), and
        with change detection on and a notification target set but no rule on change points,
        CHANGE_RULE, so that a change point is a notification by default."""
        rules = parse_rules(settings.alerts)
        targets = settings.alert_webhook or settings.alert_notify
        if (
            settings.change_detection
            and targets
            and not any(rule.signal in CHANGE_SIGNALS for rule in rules)
        ):
            rules += parse_rules(CHANGE_RULE)
        return cls(settings, stats, rules=rules) if rules else None

    def bucket_selectors(self) -> set[str]:
        """The bucket selectors the rules name (`mae[final_1h]`: final_1h)."""
        return {
            str(rule.selector)
            for rule in self.engine.rules
            if rule.signal in BUCKET_SIGNALS and is_bucket_selector(rule.selector)
        }

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
        notes = self.policy.decide(changes, firing, now)
        if self.delivery is not None or self.channels is not None:
            self.stats.counters["alert_notifications_suppressed"] = self.policy.suppressed
        for note in notes:
            if self.delivery is not None:
                body = render(
                    note, self.form, service=self.stats.service, dashboard_url=self.dashboard_url
                )
                self.delivery.submit(json.dumps(body).encode())
            if self.channels is not None:
                text = text_message(note, self.dashboard_url)
                self.channels.submit(json.dumps(text).encode())
        return changes

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
