"""Alert notifications: which transitions are told (repeat interval, resolves), the three
payload formats, and delivery off the caller's path with bounded retries and back-off."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from typing import Any

import pytest

from mlmon.errors import ConfigError
from mlmon.monitoring.alert_rules import AlertEngine, parse_rules
from mlmon.ops.alert_actions import Alerting
from mlmon.ops.alert_payloads import render, text_message
from mlmon.ops.notifications import Delivery, Notification, NotifyPolicy
from mlmon.ops.status import ServiceStats
from mlmon.settings import Settings

RULE = parse_rules("high-mae: mae[last_500] > 60 for 30s severity=critical")[0]


class Clocked:
    """An alert engine and a notify policy driven by a fake clock, one signal value a tick."""

    def __init__(self, repeat: float, rules: str = "flappy: mae[all] > 10") -> None:
        self.engine = AlertEngine(parse_rules(rules))
        self.policy = NotifyPolicy(repeat)
        self.now = 1000.0

    def tick(self, value: float, seconds: float = 1.0) -> list[tuple[str, float]]:
        self.now += seconds
        changes = self.engine.evaluate({"m": {"mae[all]": value}}, self.now)
        notes = self.policy.decide(changes, self.engine.firing(), self.now)
        return [(note.state, note.value) for note in notes]


# ---- severity in the rule syntax --------------------------------------------------------------


def test_severity_is_parsed_and_defaults_to_warning() -> None:
    first, second = parse_rules("a: mae[all] > 1 for 5s severity=critical; b: psi[any] > 0.2")
    assert (first.severity, first.for_seconds) == ("critical", 5.0)
    assert second.severity == "warning"
    assert str(first) == "a: mae[all] > 1 for 5s severity=critical"
    assert parse_rules(str(first)) == (first,)  # its text reads back the same


def test_an_unknown_severity_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match="severity must be one of critical, warning, info"):
        parse_rules("a: mae[all] > 1 severity=urgent")


# ---- which transitions become notifications ----------------------------------------------------


def test_one_notification_per_firing_and_a_resolve() -> None:
    clock = Clocked(repeat=300)
    assert clock.tick(5) == []
    assert clock.tick(20) == [("firing", 20)]
    assert clock.tick(30) == []  # still firing: no repeat
    assert clock.tick(3) == [("resolved", 3)]


def test_a_flap_within_the_repeat_interval_does_not_notify_again() -> None:
    clock = Clocked(repeat=300)
    assert clock.tick(20) == [("firing", 20)]
    assert clock.tick(3) == [("resolved", 3)]
    assert clock.tick(20) == []  # fires again 2 s after it was told: held
    assert clock.tick(3) == []  # its resolve is not told either: the firing was not
    assert clock.policy.suppressed == 1
    assert clock.tick(20, seconds=400) == [("firing", 20)]  # past the interval: told again


def test_a_held_firing_is_told_once_the_interval_has_passed_if_it_still_fires() -> None:
    clock = Clocked(repeat=60)
    assert clock.tick(20) == [("firing", 20)]
    assert clock.tick(3) == [("resolved", 3)]
    assert clock.tick(25) == []
    assert clock.tick(26, seconds=30) == []
    assert clock.tick(27, seconds=30) == [("firing", 25)]  # the value it fired at
    assert clock.tick(3) == [("resolved", 3)]


def test_zero_repeat_interval_tells_every_transition() -> None:
    clock = Clocked(repeat=0)
    assert [clock.tick(v) for v in (20, 3, 20, 3)] == [
        [("firing", 20)],
        [("resolved", 3)],
        [("firing", 20)],
        [("resolved", 3)],
    ]


# ---- payloads ---------------------------------------------------------------------------------


def note(state: str = "firing") -> Notification:
    return Notification(RULE, "champion", state, 61.5, 1_700_000_100.0, 1_700_000_000.0)


def test_mlmon_payload_keeps_its_keys_and_adds_severity_and_dashboard() -> None:
    body = render(note(), "mlmon", dashboard_url="http://dash.example/")
    assert body["alert"] == "high-mae"
    assert body["state"] == "firing"
    assert body["series"] == "champion"
    assert body["value"] == 61.5
    assert body["threshold"] == 60
    assert body["severity"] == "critical"
    assert body["dashboard"] == "http://dash.example/"
    assert body["rule"] == "high-mae: mae[last_500] > 60 for 30s severity=critical"


def test_alertmanager_payload_is_a_version_4_webhook_body() -> None:
    firing = render(note(), "alertmanager", service="metric", dashboard_url="http://d/")
    resolved = render(note("resolved"), "alertmanager", service="metric")
    assert firing["version"] == "4"
    assert firing["status"] == "firing"
    assert firing["groupLabels"] == {"alertname": "high-mae"}
    (alert,) = firing["alerts"]
    assert alert["labels"] == {
        "alertname": "high-mae",
        "severity": "critical",
        "model": "champion",
        "service": "metric",
    }
    assert alert["annotations"]["description"] == "mae[last_500] is 61.5 (alert when > 60 for 30s)"
    assert alert["annotations"]["dashboard"] == "http://d/"
    assert alert["startsAt"] == "2023-11-14T22:13:20.000Z"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    (gone,) = resolved["alerts"]
    assert (resolved["status"], gone["status"]) == ("resolved", "resolved")
    assert gone["endsAt"] == "2023-11-14T22:15:00.000Z"
    assert gone["fingerprint"] == alert["fingerprint"]  # the same alert


def test_slack_payload_has_text_and_blocks_with_escaped_markup_and_the_link() -> None:
    body = render(note(), "slack", dashboard_url="http://dash.example/")
    assert "[FIRING]" in body["text"]
    assert "high-mae firing on model champion" in body["text"]
    assert "&gt; 60" in body["text"]  # Slack would read a bare > as markup
    assert " > 60" not in body["text"]
    section, context = body["blocks"]
    assert section["text"]["type"] == "mrkdwn"
    texts = [element["text"] for element in context["elements"]]
    assert "<http://dash.example/|dashboard>" in texts
    assert any("critical" in text for text in texts)


# ---- delivery ---------------------------------------------------------------------------------


class FlakyTransport:
    """Fails the first `failures` calls with an OSError, then takes every body."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.delivered: list[bytes] = []

    def __call__(self, body: bytes) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionRefusedError("refused")
        self.delivered.append(body)


def test_retries_with_exponential_back_off_then_delivers_once() -> None:
    counters: Counter[str] = Counter()
    sleeps: list[float] = []
    transport = FlakyTransport(failures=2)
    delivery = Delivery(transport, counters, attempts=5, sleep=sleeps.append)
    assert delivery.deliver(b"{}") is True
    assert transport.delivered == [b"{}"]
    assert sleeps == [1.0, 2.0]
    assert counters["alert_notification_retries"] == 2
    assert counters["alert_notifications_sent"] == 1
    assert counters["alert_notifications_failed"] == 0


def test_gives_up_after_the_attempts_and_counts_the_failure() -> None:
    counters: Counter[str] = Counter()
    sleeps: list[float] = []
    delivery = Delivery(
        FlakyTransport(failures=99), counters, attempts=6, max_delay=5.0, sleep=sleeps.append
    )
    assert delivery.deliver(b"{}") is False
    assert sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]  # doubling, capped; no wait after the last
    assert counters["alert_notifications_failed"] == 1
    assert counters["alert_notifications_sent"] == 0


def test_a_full_queue_drops_the_oldest_and_counts_it() -> None:
    counters: Counter[str] = Counter()
    entered, release = threading.Event(), threading.Event()
    taken: list[bytes] = []

    def slow(body: bytes) -> None:
        entered.set()
        release.wait(10)
        taken.append(body)

    delivery = Delivery(slow, counters, queue_size=2)
    delivery.submit(b"0")  # the thread takes it and waits inside the transport
    assert entered.wait(10)
    for body in (b"1", b"2", b"3"):
        delivery.submit(body)
    assert counters["alert_notifications_dropped"] == 1
    release.set()
    assert delivery.flush(10)
    assert taken == [b"0", b"2", b"3"]  # "1", the oldest waiting, was dropped


# ---- Alerting: check() queues, never waits -----------------------------------------------------


async def test_check_returns_while_the_receiver_hangs_and_notifies_once() -> None:
    stats = ServiceStats("metric")
    release = threading.Event()
    bodies: list[dict[str, Any]] = []

    def hanging(body: bytes) -> None:
        release.wait(10)
        bodies.append(json.loads(body))

    settings = Settings(alerts="drift: psi[any] > 0.2 severity=info", alert_format="alertmanager")
    alerting = Alerting(settings, stats, transport=hanging)
    assert alerting.delivery is not None
    signals = {"m": {"psi[any]": 0.5}}
    # The transport blocks until released: a check that waited on it would time out here.
    await asyncio.wait_for(alerting.check(signals, 1.0), 5)
    await asyncio.wait_for(alerting.check(signals, 2.0), 5)  # still firing: nothing new
    assert not release.is_set()
    release.set()
    assert await asyncio.to_thread(alerting.delivery.flush, 10)
    assert [b["alerts"][0]["labels"]["severity"] for b in bodies] == ["info"]
    assert stats.counters["alerts_firing"] == 1
    assert stats.counters["alert_notifications_sent"] == 1
    assert stats.counters["alert_notifications_failed"] == 0


def test_without_a_webhook_nothing_is_queued() -> None:
    alerting = Alerting(Settings(alerts="a: psi[any] > 0.2"), ServiceStats("model"))
    assert alerting.delivery is None


# ---- apprise channels (MLMON_ALERT_NOTIFY) ------------------------------------------------------


def test_text_message_for_apprise_has_a_title_a_body_and_a_level() -> None:
    firing = text_message(note(), "http://dash.example/")
    assert firing["title"] == "[FIRING] high-mae firing on model champion"
    assert firing["body"].startswith("mae[last_500] is 61.5 (alert when > 60 for 30s)")
    assert firing["body"].endswith("\nhttp://dash.example/")
    assert firing["type"] == "failure"  # critical
    assert text_message(note("resolved"))["type"] == "success"


def test_an_apprise_url_it_does_not_know_is_a_clear_error_without_the_token() -> None:
    settings = Settings(alerts="a: psi[any] > 0.2", alert_notify="nosuchservice://secret-token")
    with pytest.raises(ConfigError, match="does not take the nosuchservice:// URL") as caught:
        Alerting(settings, ServiceStats("model"))
    assert "secret-token" not in str(caught.value)
