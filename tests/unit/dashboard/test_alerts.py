"""What the page is told about a firing alert: its rule, value, model and since when."""

from __future__ import annotations

import asyncio

import pytest

from mlmon.dashboard.aggregates import firing_alerts
from mlmon.ops.alert_actions import Alerting
from mlmon.ops.status import ServiceStats
from mlmon.settings import Settings


def test_a_firing_alert_carries_its_rule_threshold_duration_and_since() -> None:
    stats = ServiceStats("model")
    alerting = Alerting(Settings(alerts="high-mae: mae[last_500] > 50 for 30s"), stats)
    high = {"bad": {"mae[last_500]": 56.25}, "good": {"mae[last_500]": 43.0}}
    asyncio.run(alerting.check(high, now=1000.0))  # the condition holds: pending
    assert firing_alerts([stats.snapshot()]) == []
    asyncio.run(alerting.check(high, now=1031.0))  # held for 31 s: firing
    [alert] = firing_alerts([stats.snapshot()])
    assert alert == {
        "alert": "high-mae",
        "series": "bad",
        "value": pytest.approx(56.25),
        "rule": "high-mae: mae[last_500] > 50 for 30s",
        "signal": "mae",
        "selector": "last_500",
        "op": ">",
        "threshold": 50.0,
        "for_seconds": 30.0,
        "active_since": 1000.0,
        "service": "model",
    }
