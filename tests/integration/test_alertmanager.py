"""The rule file `mlmon alerts rules` writes, in a real Prometheus routed through a real
Alertmanager: a drift rule fires, Alertmanager delivers it to a webhook, and it resolves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlmon.monitoring.alert_rules import parse_rules
from mlmon.ops.prometheus_rules import prometheus_rules
from tests.integration.alert_stack import FakeExporter, Receiver, alert_stack

BMI = 'mlmon_drift_psi{model="champion",column="bmi"}'
AGE = 'mlmon_drift_psi{model="champion",column="age"}'
PATIENCE = 40.0  # seconds; it takes a few: scrape, evaluate, `for`, group_wait


def _alerts(receiver: Receiver, status: str) -> list[dict[str, Any]]:
    return [
        alert
        for body in receiver.bodies
        if body["status"] == status
        for alert in body["alerts"]
        if alert["labels"]["alertname"] == "drift"
    ]


def test_a_drift_rule_fires_through_alertmanager_and_resolves(tmp_path: Path) -> None:
    rules = tmp_path / "mlmon.yml"
    text = "drift: psi[any] > 0.2 for 2s severity=critical"
    rules.write_text(prometheus_rules(parse_rules(text), dashboard_url="http://dash.example/"))
    exporter, receiver = FakeExporter(), Receiver()
    exporter.set(BMI, 0.05)
    exporter.set(AGE, 0.01)
    try:
        with alert_stack(rules, exporter.address, receiver.url, tmp_path):
            exporter.set(BMI, 0.6)  # one column drifts: the worst column crosses 0.2
            assert receiver.wait_for(lambda r: bool(_alerts(r, "firing")), PATIENCE), (
                receiver.bodies
            )
            exporter.set(BMI, 0.05)
            assert receiver.wait_for(lambda r: bool(_alerts(r, "resolved")), PATIENCE), (
                receiver.bodies
            )
    finally:
        exporter.close()
        receiver.close()
    first = receiver.bodies[0]
    assert first["status"] == "firing"  # nothing was sent while the PSI stayed low
    assert first["groupLabels"] == {"alertname": "drift", "model": "champion"}
    (fired,) = _alerts(receiver, "firing")[:1]
    assert fired["labels"]["severity"] == "critical"
    assert fired["labels"]["model"] == "champion"
    assert fired["annotations"]["summary"] == "drift firing on model champion"
    assert fired["annotations"]["description"] == "psi[any] is 0.6 (alert when > 0.2 for 2s)"
    assert fired["annotations"]["dashboard"] == "http://dash.example/"
    resolved = _alerts(receiver, "resolved")[0]
    assert resolved["fingerprint"] == fired["fingerprint"]
