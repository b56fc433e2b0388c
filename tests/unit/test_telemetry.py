"""Prometheus exposition: counters from ServiceStats, error histograms by model."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mlmon.hot_join import Joined
from mlmon.status import ServiceStats
from mlmon.telemetry import Telemetry


def samples(telemetry: Telemetry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(telemetry.registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_service_counters_and_gauges_are_exported_by_convention() -> None:
    """Counters become mlmon_<name>_total and gauges mlmon_<name>, labelled by service."""
    metric = ServiceStats("metric", ready=True)
    metric.counters.update(joined=5, dead_lettered=2)
    metric.gauges["pending_y_true"] = 3
    found = samples(Telemetry([metric, ServiceStats("model")]))
    assert found[("mlmon_joined_total", (("service", "metric"),))] == 5
    assert found[("mlmon_dead_lettered_total", (("service", "metric"),))] == 2
    assert found[("mlmon_pending_y_true", (("service", "metric"),))] == 3
    assert found[("mlmon_ready", (("service", "metric"),))] == 1
    assert found[("mlmon_ready", (("service", "model"),))] == 0
    assert any(name == "mlmon_build_info" for name, _ in found)


def test_errors_are_histograms_by_model_never_by_id() -> None:
    """Each pair's absolute error lands in its model's histogram; no label carries an id."""
    telemetry = Telemetry([])
    joined = Joined()
    for key, y_pred, model, version, sent_at, joined_at in (
        ("r1", 7.0, "a", "1", 100.0, 100.02),
        ("r2", 14.0, "a", "1", None, 100.0),
        ("r3", 10.5, "b", "2", 99.0, 100.0),
    ):
        joined.append(key, (10.0, sent_at, joined_at), (model, version, y_pred, None, 0), joined_at)
    telemetry.observe(joined)
    found = samples(telemetry)
    a = (("model", "a"), ("model_version", "1"))
    assert found[("mlmon_absolute_error_count", a)] == 2
    assert found[("mlmon_absolute_error_sum", a)] == 7.0
    assert found[("mlmon_end_to_end_latency_seconds_count", a)] == 1
    assert found[("mlmon_label_delay_seconds_count", a)] == 2
    assert all("r1" not in str(labels) for _, labels in found)


def test_a_champion_and_a_challenger_in_one_process_give_one_valid_exposition() -> None:
    """Embedded `up` with two models: per-service sums, and one drift family for both models
    (a name repeated makes the whole OpenMetrics scrape fail)."""
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
    from prometheus_client.openmetrics.parser import (
        text_string_to_metric_families as parse_openmetrics,
    )

    from mlmon.telemetry import MergedCollector

    class Drift:
        def __init__(self, model: str, psi: float) -> None:
            self.model, self.psi = model, psi

        def collect(self):  # type: ignore[no-untyped-def]
            family = GaugeMetricFamily("mlmon_drift_psi", "psi", labels=["model", "column"])
            family.add_metric([self.model, "bmi"], self.psi)
            yield family

    champion, challenger = ServiceStats("model"), ServiceStats("model")
    champion.counters["predicted"], challenger.counters["predicted"] = 30, 12
    champion.ready, challenger.ready = True, False
    telemetry = Telemetry([champion, challenger])
    telemetry.registry.register(MergedCollector([Drift("good", 0.1), Drift("bad", 0.3)]))
    text = generate_openmetrics(telemetry.registry).decode()
    parsed = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in parse_openmetrics(text)
        for sample in family.samples
    }
    assert parsed[("mlmon_predicted_total", (("service", "model"),))] == 42
    assert parsed[("mlmon_ready", (("service", "model"),))] == 0  # not all instances ready
    assert parsed[("mlmon_drift_psi", (("column", "bmi"), ("model", "good")))] == 0.1
    assert parsed[("mlmon_drift_psi", (("column", "bmi"), ("model", "bad")))] == 0.3
