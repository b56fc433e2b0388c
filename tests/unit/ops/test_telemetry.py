"""Prometheus exposition: counters from ServiceStats, error histograms by model."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mlmon.join.joined import Joined
from mlmon.ops.status import ServiceStats
from mlmon.ops.telemetry import Telemetry


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
    telemetry.observe(joined, 100.03)
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

    from mlmon.ops.telemetry import MergedCollector

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


@given(
    st.lists(
        st.one_of(
            st.sampled_from([0.0, 1.0, 2.5, 1000.0, 1000.0001, math.inf]),
            st.floats(min_value=0, max_value=2000, allow_nan=False),
        ),
        max_size=60,
    )
)
def test_bulk_histogram_exposes_what_prometheus_clients_own_would(values: list[float]) -> None:
    """Same buckets (a value on a bound counts in it), count and sum as Histogram.observe,
    one value at a time."""
    from prometheus_client import CollectorRegistry, Histogram

    from mlmon.ops.telemetry import ERROR_BUCKETS, BulkHistogram

    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("e", "e", ["model"], buckets=ERROR_BUCKETS, registry=theirs)
    bulk = BulkHistogram("e", "e", ["model"], ERROR_BUCKETS, ours)
    for value in values:
        reference.labels("a").observe(value)
    # In two parts, with a NaN (left out) in the second.
    bulk.observe_many(("a",), np.array(values[:7]))
    bulk.observe_many(("a",), np.array([*values[7:], math.nan]))

    def exposed(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
        text = generate_latest(registry).decode()
        return {
            (sample.name, sample.labels.get("le", "")): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if not sample.name.endswith("_created")
        }

    want, got = exposed(theirs), exposed(ours)
    if not values:  # prometheus-client shows a labelled child only once it is used
        assert got == {} or all(v == 0 for v in got.values())
        return
    assert got.keys() == want.keys()
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=1e-12), name


def test_observe_takes_a_batch_of_several_models_and_unknown_send_times() -> None:
    telemetry = Telemetry([])
    joined = Joined()
    joined.extend(["x1", "x2"], np.array([1.0, 2.0]), np.array([3.0, 2.5]), "a", "1",
                  np.array([10.0, math.nan]), 10.5, -1.0)  # fmt: skip
    joined.extend(["x3"], np.array([5.0]), np.array([5.0]), "b", "7", np.array([9.0]), 10.5, 2.0)
    telemetry.observe(joined, written_at=10.75)
    found = samples(telemetry)
    a, b = (("model", "a"), ("model_version", "1")), (("model", "b"), ("model_version", "7"))
    assert found[("mlmon_absolute_error_sum", a)] == 2.5
    assert found[("mlmon_absolute_error_count", b)] == 1
    assert found[("mlmon_end_to_end_latency_seconds_count", a)] == 1  # x2's send time unknown
    # From the publish (9.0) to the durable row (10.75), not to the join (10.5).
    assert found[("mlmon_end_to_end_latency_seconds_sum", b)] == 1.75
    assert found[("mlmon_label_delay_seconds_sum", a)] == 0  # the label came first
    assert found[("mlmon_label_delay_seconds_sum", b)] == 2.0


def test_an_overflowing_error_is_observed_as_infinite_without_a_warning() -> None:
    telemetry = Telemetry([])
    joined = Joined()
    joined.extend(["a"], np.array([1e308]), np.array([-1e308]), "m", "1", np.array([1.0]), 1.0, 0.0)
    telemetry.observe(joined, 1.0)  # filterwarnings = error: an overflow warning would raise
    found = samples(telemetry)
    m = (("model", "m"), ("model_version", "1"))
    assert found[("mlmon_absolute_error_count", m)] == 1
    assert found[("mlmon_absolute_error_bucket", (("le", "+Inf"), *m))] == 1


def test_a_scrape_for_the_latency_alone_skips_the_quality_snapshot() -> None:
    """`/metrics?name[]=mlmon_end_to_end_latency_seconds_bucket` (the benchmark's scrape, four
    times a second) must not compute the quality windows: a few ms of the metric's GIL each.
    A full scrape still has both."""
    from mlmon.ops.monitors import LiveQuality
    from mlmon.settings import Settings

    telemetry = Telemetry([ServiceStats("metric")])
    quality = LiveQuality(Settings())
    telemetry.registry.register(quality)
    joined = Joined()
    joined.extend(["a"], np.array([1.0]), np.array([2.0]), "m", "1", np.array([9.0]), 10.0, 0.0)
    telemetry.observe(joined, 10.0)
    quality.add(joined)
    snapshots = 0
    snapshot = quality.snapshot

    def counted(now: float) -> Any:
        nonlocal snapshots
        snapshots += 1
        return snapshot(now)

    quality.snapshot = counted  # type: ignore[method-assign]
    name = "mlmon_end_to_end_latency_seconds"
    text = generate_latest(telemetry.registry.restricted_registry([f"{name}_bucket"])).decode()
    families = {family.name for family in text_string_to_metric_families(text)}
    assert families == {name}
    assert snapshots == 0
    assert "mlmon_window_mae" in generate_latest(telemetry.registry).decode()
    assert snapshots == 1


def test_pairs_between_batches_of_other_models_count_for_their_own_models() -> None:
    """A part of pairs one by one (two models, one of them also a batch's) between two batches
    of different models: the histograms and the quality windows put every row under its own
    (model, version), as if the rows had come one by one."""
    from mlmon.ops.monitors import LiveQuality
    from mlmon.settings import Settings

    joined = Joined()
    joined.extend(["b1", "b2"], np.array([1.0, 2.0]), np.array([2.0, 4.0]), "a", "1",
                  np.array([5.0, 5.0]), 6.0, 0.0)  # fmt: skip
    joined.append("p1", (10.0, 5.0, 6.0), ("b", "7", 13.0, None, 6.0), 6.0)
    joined.append("p2", (10.0, 5.0, 6.0), ("a", "1", 10.5, None, 6.0), 6.0)
    joined.extend(["c1"], np.array([0.0]), np.array([8.0]), "b", "7", np.array([5.0]), 6.0, 0.0)
    telemetry, quality = Telemetry([]), LiveQuality(Settings())
    telemetry.observe(joined, 6.0)
    quality.add(joined)
    found = samples(telemetry)
    a, b = (("model", "a"), ("model_version", "1")), (("model", "b"), ("model_version", "7"))
    assert found[("mlmon_absolute_error_count", a)] == 3
    assert found[("mlmon_absolute_error_sum", a)] == 1.0 + 2.0 + 0.5
    assert found[("mlmon_absolute_error_count", b)] == 2
    assert found[("mlmon_absolute_error_sum", b)] == 3.0 + 8.0
    figures = quality.snapshot(6.0)
    assert (figures["a"]["all"].count, figures["a"]["all"].mae) == (3, pytest.approx(3.5 / 3))
    assert (figures["b"]["all"].count, figures["b"]["all"].mae) == (2, 5.5)
