"""A real Prometheus scraping a running metric service sees the figures of the CSV it wrote."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path

import pytest

from mlmon.settings import Settings
from tests.integration.prometheus_server import PrometheusServer, prometheus_server
from tests.robustness.harness import (
    free_port,
    model_and_metric,
    publish_records,
    wait_for_ids,
)

RECORDS = 500
SCRAPE_PATIENCE = 20.0


def scalar(server: PrometheusServer, promql: str) -> float | None:
    """The value of a one-series instant query, None while it has no result."""
    result = server.query(promql)
    if not result:
        return None
    assert len(result) == 1, f"{promql} returned {len(result)} series: {result}"
    return float(result[0]["value"][1])


def wait_for_scrape(server: PrometheusServer, promql: str, expected: float) -> float | None:
    """Poll `promql` until it equals `expected` or patience runs out; return its last value."""
    deadline = time.monotonic() + SCRAPE_PATIENCE
    while True:
        value = scalar(server, promql)
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


async def test_real_prometheus_agrees_with_csv(rabbit_settings: Settings, tmp_path: Path) -> None:
    """Prometheus's joined counter, mean error and error count equal the CSV's own figures."""
    port = free_port()
    settings = rabbit_settings
    services = model_and_metric(settings, tmp_path, metrics_port=port)
    ids = [f"real-prom-{n}" for n in range(RECORDS)]
    try:
        await publish_records(settings, ids, batch=50)
        written = await wait_for_ids(settings.logs_dir, set(ids), patience=30)
        assert set(ids) <= set(written), f"{len(set(written))} of {RECORDS} rows written"
        with (settings.logs_dir / "metric_log.csv").open(newline="") as handle:
            errors = [float(row["absolute_error"]) for row in csv.DictReader(handle)]
        rows = len(errors)
        mean_error = sum(errors) / rows
        with prometheus_server([f"127.0.0.1:{port}"], tmp_path) as server:
            joined = await asyncio.to_thread(
                wait_for_scrape, server, 'mlmon_joined_total{service="metric"}', rows
            )
            mean = await asyncio.to_thread(
                scalar, server, "sum(mlmon_absolute_error_sum) / sum(mlmon_absolute_error_count)"
            )
            count = await asyncio.to_thread(scalar, server, "sum(mlmon_absolute_error_count)")
    finally:
        for service in services:
            service.terminate()
    assert rows == RECORDS
    assert joined == rows, f"Prometheus saw mlmon_joined_total={joined}, the CSV has {rows} rows"
    assert mean == pytest.approx(mean_error, rel=1e-6), (mean, mean_error)
    assert count == rows
