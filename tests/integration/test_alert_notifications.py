"""mlmon's own alert notifications against a real HTTP receiver: a receiver that fails twice
gets the notification once (retries counted); one that always fails is counted as a failure,
also in Prometheus, while the pipeline runs on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import generate_latest

from mlmon.bus.memory import MemoryBus
from mlmon.model.predictors import load_model
from mlmon.ops.alert_actions import Alerting
from mlmon.ops.status import ServiceStats
from mlmon.ops.telemetry import Telemetry
from mlmon.services.features import run_features
from mlmon.services.metric.service import MetricService
from mlmon.services.model import run_model
from mlmon.settings import Settings
from tests.integration.alert_stack import Receiver
from tests.integration.pipeline import read_rows

PATIENCE = 30.0


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_receiver_failing_twice_gets_the_notification_once(tmp_path: Path) -> None:
    receiver = Receiver(statuses=(503, 500))
    stats = ServiceStats("metric")
    settings = Settings(
        logs_dir=tmp_path,
        alerts="slow: mae[all] > 60 severity=critical",
        alert_webhook=receiver.url,
        alert_format="slack",
        dashboard_url="http://dash.example/",
    )
    alerting = Alerting(settings, stats)
    assert alerting.delivery is not None
    try:
        await alerting.check({"m": {"mae[all]": 75.0}}, 1.0)
        assert await asyncio.to_thread(alerting.delivery.flush, PATIENCE)
        await alerting.check({"m": {"mae[all]": 12.0}}, 2.0)
        assert await asyncio.to_thread(alerting.delivery.flush, PATIENCE)
    finally:
        receiver.close()
    assert receiver.attempts == 4  # 2 refused, the firing, the resolve
    firing, resolved = (body["text"] for body in receiver.bodies)
    assert "[FIRING]" in firing
    assert "slow firing on model m" in firing
    assert "mae[all] is 75 (alert when &gt; 60)" in firing
    assert "[RESOLVED]" in resolved
    assert stats.counters["alert_notification_retries"] == 2
    assert stats.counters["alert_notifications_sent"] == 2
    assert stats.counters["alert_notifications_failed"] == 0


async def test_a_receiver_that_always_fails_is_counted_and_the_pipeline_runs_on(
    tmp_path: Path,
) -> None:
    receiver = Receiver()
    receiver.always_fail()
    settings = Settings(
        logs_dir=tmp_path / "logs",
        alerts="any-rows: count[all] >= 1",
        alert_webhook=receiver.url,
        alert_retries=2,
        rate=300,
        status_interval=0.2,
    )
    bus = MemoryBus()
    stats = {name: ServiceStats(name) for name in ("features", "model", "metric")}
    metric = stats["metric"]
    stop = asyncio.Event()
    features = asyncio.create_task(run_features(settings, bus, stats["features"], stop))
    consumers = [
        asyncio.create_task(run_model(settings, bus, load_model(None), stats["model"])),
        asyncio.create_task(MetricService(settings, bus, metric).run()),
    ]
    try:
        await wait_until(lambda: metric.counters["alert_notifications_failed"] == 1, "a failure")
        joined = metric.counters["joined"]
        await wait_until(lambda: metric.counters["joined"] > joined + 100, "rows after it")
    finally:
        stop.set()
        await asyncio.wait_for(features, 15)
        await bus.stop_consuming()
        await asyncio.wait_for(asyncio.gather(*consumers), 15)
        receiver.close()
    assert receiver.attempts == 2  # MLMON_ALERT_RETRIES, then it gave up
    assert receiver.bodies == []
    assert metric.counters["alerts_firing"] == 1  # one firing, told (and failed) once
    assert metric.counters["alert_notification_retries"] == 1
    assert len(read_rows(settings.logs_dir)) == metric.counters["joined"]
    exported = generate_latest(Telemetry([metric]).registry).decode()
    assert 'mlmon_alert_notifications_failed_total{service="metric"} 1.0' in exported


async def test_apprise_channels_are_retried_and_get_a_title_and_text(tmp_path: Path) -> None:
    """MLMON_ALERT_NOTIFY through apprise's json:// channel to a receiver failing once."""
    receiver = Receiver(statuses=(503,))
    stats = ServiceStats("model")
    settings = Settings(
        logs_dir=tmp_path,
        alerts="drift: psi[any] > 0.2 severity=critical",
        alert_notify=receiver.url.replace("http://", "json://"),
    )
    alerting = Alerting(settings, stats)
    assert alerting.channels is not None
    assert alerting.delivery is None  # no webhook: apprise only
    try:
        await alerting.check({"m": {"psi[any]": 0.7}}, 1.0)
        assert await asyncio.to_thread(alerting.channels.flush, PATIENCE)
    finally:
        receiver.close()
    assert receiver.attempts == 2
    (body,) = receiver.bodies
    assert body["title"] == "[FIRING] drift firing on model m"
    assert body["message"].startswith("psi[any] is 0.7 (alert when > 0.2)")
    assert body["type"] == "failure"
    assert stats.counters["alert_notification_retries"] == 1
    assert stats.counters["alert_notifications_sent"] == 1
