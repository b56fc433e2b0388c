"""Prometheus exposition: counters from ServiceStats, error histograms by model."""

from __future__ import annotations

import math
from pathlib import Path
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
from mlmon.settings import Settings


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
        joined.append(
            key, (10.0, sent_at, joined_at), (model, version, y_pred, None, 0, ""), joined_at
        )
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

    from mlmon.ops.telemetry import BulkHistogram

    bounds = (1, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 80, 100, 150, 200, 300, 500, 1000)
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("e", "e", ["model"], buckets=bounds, registry=theirs)
    bulk = BulkHistogram("e", "e", ["model"], bounds, ours)
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

    joined = Joined()
    joined.extend(["b1", "b2"], np.array([1.0, 2.0]), np.array([2.0, 4.0]), "a", "1",
                  np.array([5.0, 5.0]), 6.0, 0.0)  # fmt: skip
    joined.append("p1", (10.0, 5.0, 6.0), ("b", "7", 13.0, None, 6.0, ""), 6.0)
    joined.append("p2", (10.0, 5.0, 6.0), ("a", "1", 10.5, None, 6.0, ""), 6.0)
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


def error_buckets_exposed(telemetry: Telemetry) -> list[tuple[float, float]]:
    """(le, cumulative count) of mlmon_absolute_error's one series, +Inf last."""
    text = generate_latest(telemetry.registry).decode()
    return sorted(
        (float(sample.labels["le"]), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "mlmon_absolute_error_bucket"
    )


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """PromQL's histogram_quantile over cumulative (le, count) pairs: linear within the
    bucket the rank falls in, from 0 for the first; the highest finite bound if in +Inf."""
    total = buckets[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def house_price_errors() -> np.ndarray:
    """Absolute errors of a house-price model: MAE ~15,000, spread over a decade or so."""
    return np.random.default_rng(5).lognormal(math.log(12_000), 0.7, 20_000)


def observe_errors(telemetry: Telemetry, errors: np.ndarray) -> None:
    joined = Joined()
    joined.extend([f"r{i}" for i in range(errors.size)], np.zeros(errors.size), errors,
                  "house", "1", np.full(errors.size, 1.0), 2.0, 0.0)  # fmt: skip
    telemetry.observe(joined, 2.0)


def assert_the_buckets_tell_the_median(telemetry: Telemetry, errors: np.ndarray) -> None:
    buckets = error_buckets_exposed(telemetry)
    total, below_inf = buckets[-1][1], buckets[-2][1]
    assert total == errors.size
    assert below_inf >= 0.999 * total, f"{total - below_inf:,.0f} of {total:,.0f} in +Inf"
    estimate, true = histogram_quantile(0.5, buckets), float(np.median(errors))
    assert true / 1.25 < estimate < true * 1.25, (estimate, true)
    p90, true_p90 = histogram_quantile(0.9, buckets), float(np.quantile(errors, 0.9))
    assert true_p90 / 1.25 < p90 < true_p90 * 1.25, (p90, true_p90)


def test_house_price_errors_do_not_all_land_in_inf_by_default() -> None:
    """With no setting and no known dataset, errors ~15,000 fill finite buckets and
    histogram_quantile over them is within a quarter of the true median and p90 (the fixed
    1..1000 buckets put every one in +Inf, so Grafana's heatmap and quantiles said nothing)."""
    telemetry = Telemetry([])
    errors = house_price_errors()
    observe_errors(telemetry, errors)
    assert_the_buckets_tell_the_median(telemetry, errors)


def test_the_buckets_fit_the_scale_of_the_dataset_target(tmp_path: Path) -> None:
    """A metric service started with the dataset (or reference) and its target fits the
    buckets to the target's spread: fewer series than the wide default, same accuracy."""
    from mlmon.ops.telemetry import WIDE_ERROR_BUCKETS, error_buckets

    rng = np.random.default_rng(1)
    price = rng.normal(300_000, 100_000, 500).clip(20_000)
    lines = [
        "rooms,area,price",
        *(f"{i % 7},{50 + i % 90},{float(p)!r}" for i, p in enumerate(price)),
    ]
    (tmp_path / "houses.csv").write_text("\n".join(lines) + "\n")
    settings = Settings(dataset=tmp_path / "houses.csv", target="price", metrics_port=9100)
    telemetry = Telemetry.for_settings(settings, [ServiceStats("metric")])
    buckets, source = error_buckets(settings)
    assert "houses.csv" in source
    assert buckets[0] <= 100  # a good model's errors
    assert buckets[-1] >= 1e6  # to a broken one's
    assert len(buckets) < len(WIDE_ERROR_BUCKETS)
    errors = house_price_errors()
    observe_errors(telemetry, errors)
    assert_the_buckets_tell_the_median(telemetry, errors)
    # Only a process that joins rows reads the dataset; the others keep the wide default.
    assert error_buckets(settings, fit=False) == (WIDE_ERROR_BUCKETS, "the wide default")
    unreadable = Settings(dataset=tmp_path / "gone.csv", target="price")
    assert error_buckets(unreadable)[0] == WIDE_ERROR_BUCKETS


def test_explicit_buckets_are_taken_as_given_and_checked() -> None:
    """MLMON_ERROR_BUCKETS sets the bounds exactly; a wrong list fails naming the variable."""
    from mlmon.errors import ConfigError
    from mlmon.ops.telemetry import error_buckets

    settings = Settings(error_buckets="1000, 5000,10000 50000", dataset=None)
    assert error_buckets(settings)[0] == (1000.0, 5000.0, 10000.0, 50000.0)
    telemetry = Telemetry.for_settings(settings, [ServiceStats("metric")])
    observe_errors(telemetry, np.array([10.0, 7_000.0, 1e6]))
    assert error_buckets_exposed(telemetry) == [
        (1000.0, 1), (5000.0, 1), (10000.0, 2), (50000.0, 2), (math.inf, 3)
    ]  # fmt: skip
    for wrong in ("10,5", "1,x", "-1,2", "1,inf", ","):
        with pytest.raises(ConfigError, match="MLMON_ERROR_BUCKETS"):
            error_buckets(Settings(error_buckets=wrong))


def test_classification_errors_are_counted_right_or_wrong() -> None:
    from mlmon.ops.telemetry import error_buckets

    assert error_buckets(Settings(task="classification"))[0] == (0.0, 1.0)
