"""Quality by prediction time through the real plot service: an alert rule on the latest final
bucket fires (and one on the provisional bucket does not), the gauges hold both buckets,
`mlmon report` lists them, and the dashboard's card marks the provisional ones and shows each
bucket's label completeness."""

from __future__ import annotations

import math
import re
import signal
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from mlmon.metric_log.append import format_rows
from mlmon.metric_log.layout import METRIC_COLUMNS, METRIC_LOG
from mlmon.ops.by_time import read_by_time
from mlmon.summary.by_time import BY_TIME_FILE, write_by_time
from tests.e2e.cli import free_port, mlmon, mlmon_background, wait_for
from tests.e2e.dashboard_page import served
from tests.e2e.webhook import webhook_receiver

WIDTH = 300  # the finest bucket
BUCKETS, FINAL = 8, 4  # buckets in the log; the oldest FINAL of them are final
LATE_MAE, FRESH_MAE = 80.0, 20.0  # the error of every row in a final / provisional bucket
ROWS_PER_BUCKET = 20
RULES = "late: mae[final] > 60; early: mae[provisional] > 60"


def _log(logs: Path, now: float) -> float:
    """A log of BUCKETS buckets ending with the current one; returns the label wait that makes
    the oldest FINAL final, with 150 s to spare either way (the test takes far less)."""
    base = math.floor(now / WIDTH) * WIDTH - (BUCKETS - 1) * WIDTH
    rows = []
    for k in range(BUCKETS):
        error = LATE_MAE if k < FINAL else FRESH_MAE
        for i in range(ROWS_PER_BUCKET):
            sent = base + k * WIDTH + i * WIDTH / ROWS_PER_BUCKET
            row = (f"{k}-{i}", 100.0, 100.0 + error, error, "m", "1", sent, now, None, None)
            rows.append(row)
    (logs / METRIC_LOG).write_text(format_rows([METRIC_COLUMNS, *rows]))
    last_final_end = base + FINAL * WIDTH
    return now - last_final_end - WIDTH / 2


def _gauge(text: str, name: str, state: str) -> float:
    found = re.search(rf'^{name}{{model="m",state="{state}"}} (\S+)$', text, re.MULTILINE)
    assert found is not None, f"{name} {state} not in /metrics"
    return float(found[1])


@pytest.mark.alone  # its /metrics read waits 5 s at most on a plot service drawing every 0.2 s
def test_final_and_provisional_buckets_everywhere(tmp_path: Path, chromium: str) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    wait = _log(logs, time.time())
    port = free_port()
    with webhook_receiver() as (url, received):
        env = {
            "MLMON_PLOT_INTERVAL": "0.2",
            "MLMON_MAX_LABEL_WAIT": f"{wait:.0f}",
            "MLMON_ALERTS": RULES,
            "MLMON_ALERT_WEBHOOK": url,
            "MLMON_CHANGE_DETECTION": "false",
            "MLMON_METRICS_PORT": str(port),
        }
        service = mlmon_background("plot", "--logs", str(logs), env=env, log_path=tmp_path / "p")
        try:
            wait_for(lambda: any(b["alert"] == "late" for b in received), 30, "the late alert")
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
            metrics = text.read().decode()
        finally:
            service.send_signal(signal.SIGINT)
            service.wait(30)
    late = next(b for b in received if b["alert"] == "late")
    assert (late["series"], late["state"], late["value"]) == ("m", "firing", LATE_MAE)
    assert not any(b["alert"] == "early" for b in received)  # the provisional MAE is low
    assert _gauge(metrics, "mlmon_bucket_mae", "final") == LATE_MAE
    assert _gauge(metrics, "mlmon_bucket_mae", "provisional") == FRESH_MAE
    assert _gauge(metrics, "mlmon_bucket_rows", "final") == ROWS_PER_BUCKET
    starts = {s: _gauge(metrics, "mlmon_bucket_start_seconds", s) for s in ("final", "provisional")}
    assert starts["provisional"] - starts["final"] == (BUCKETS - FINAL) * WIDTH

    report = mlmon("report", "--logs", str(logs))
    assert report.returncode == 0, report.stderr
    lines = report.stdout.splitlines()
    section = lines[next(i for i, line in enumerate(lines) if line.startswith("quality by ")) :]
    states = [line.split()[3] for line in section[3:] if line.startswith("    ")]
    assert (
        states == ["provisional"] * (BUCKETS - FINAL) + ["final"] * 2
    )  # the latest 6, newest first
    assert section[3].split()[5:7] == ["-", f"{FRESH_MAE:.4g}"]  # labelled unknown here

    # The prediction counts that give completeness come from the metric service's store;
    # without one here, the file gets them as a notebook would see them.
    rows = read_by_time(logs / BY_TIME_FILE)
    for row in rows:
        row.update(start=row["bucket_start"], end=row["bucket_end"])
        row["completeness"] = 1.0 if row["state"] == "final" else 0.25
    write_by_time(logs / BY_TIME_FILE, rows)
    _the_card_marks_them(logs, tmp_path, chromium)


def _the_card_marks_them(logs: Path, tmp_path: Path, chromium: str) -> None:
    with served(logs) as served_page, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        page.goto(served_page.url)
        page.wait_for_selector("#by-time-table tr[data-state='final']", timeout=30_000)
        table = page.locator("#by-time-table tr[data-state]")
        cells = [
            (row.get_attribute("data-state"), row.locator("td.completeness").inner_text())
            for row in table.all()
        ]
        assert cells == [("provisional", "25 %")] * 4 + [("final", "100 %")]
        chart = page.evaluate(
            """(() => { const c = Chart.getChart('by-time');
               const line = c.data.datasets.find((d) => d.type === 'line');
               return { fill: line.pointBackgroundColor,
                        bars: c.data.datasets.find((d) => d.type === 'bar').data.map((p) => p.y),
                        span: c.options.plugins.provisionalSpan }; })()"""
        )
        # Final points filled, provisional hollow, and the shaded span over the latter.
        assert chart["fill"][FINAL:] == ["white"] * (BUCKETS - FINAL)
        assert "white" not in chart["fill"][:FINAL]
        assert chart["bars"] == [1.0] * FINAL + [0.25] * (BUCKETS - FINAL)
        span = chart["span"]
        assert (span["to"] - span["from"]) == (BUCKETS - FINAL) * WIDTH
        page.locator("#by-time-card").screenshot(path=str(tmp_path / "by_time_card.png"))
        browser.close()
    assert (logs / "quality_by_time.png").stat().st_size > 0
