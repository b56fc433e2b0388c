"""Change points through the real plot service: killed and restarted, it finds what an
uninterrupted one found, announces each once (webhook, Prometheus), and marks the PNG."""

from __future__ import annotations

import csv
import os
import signal
import time
import urllib.request
from pathlib import Path

import numpy as np
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from mlmon.metric_log.append import format_rows
from mlmon.metric_log.layout import CHANGE_LOG, METRIC_COLUMNS, METRIC_LOG
from mlmon.metric_log.reader import MetricLogReader
from mlmon.summary.changes import ChangeSink
from tests.e2e.cli import free_port, mlmon, mlmon_background, wait_for
from tests.e2e.webhook import webhook_receiver

ROWS, CHANGE_AT = 60_000, 20_000


def _log_text(rows: int) -> tuple[str, list[str]]:
    """A log whose errors rise by 60 % at CHANGE_AT, in region=eu only from 40,000 on; its
    header and its rows as lines."""
    rng = np.random.default_rng(11)
    errors = np.abs(rng.normal(0.0, 40.0, rows))
    errors[CHANGE_AT:] *= 1.6
    eu = rng.random(rows) < 0.3
    errors[40_000:][eu[40_000:]] *= 2.0
    start = 1.7e9
    lines = format_rows(
        (
            f"id-{i}",
            100.0,
            100.0 + float(errors[i]),
            float(errors[i]),
            "m",
            "1",
            start + i / 100,
            start + i / 100 + 1,
            None,
            '{"region":"eu"}' if eu[i] else '{"region":"us"}',
        )
        for i in range(rows)
    ).splitlines(keepends=True)
    return format_rows([METRIC_COLUMNS]), lines


def _change_points(logs: Path) -> list[tuple[str, ...]]:
    with (logs / CHANGE_LOG).open(newline="") as handle:
        return [(r["row"], r["model"], r["segment"], r["detector"]) for r in csv.DictReader(handle)]


def test_a_killed_plot_service_finds_the_same_change_points_once(
    tmp_path: Path, chromium: str
) -> None:
    header, lines = _log_text(ROWS)
    whole = tmp_path / METRIC_LOG
    whole.write_text(header + "".join(lines))
    sink = ChangeSink()  # what the plot service runs, reading the whole log at once
    MetricLogReader(whole, sink).poll()
    expected = [(str(p.row), p.model, p.segment, p.detector) for p in sink.take()]
    detectors = {(segment, detector) for _, _, segment, detector in expected}
    assert {("", "adwin"), ("", "page_hinkley"), ("region=eu", "adwin")} <= detectors
    assert min(int(row) for row, *_ in expected) > CHANGE_AT  # nothing before the change

    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / METRIC_LOG).write_text(header + "".join(lines[:30_000]))
    port = free_port()
    with webhook_receiver() as (url, received):
        env = {
            "MLMON_PLOT_INTERVAL": "0.2",
            "MLMON_ALERT_WEBHOOK": url,
            "MLMON_METRICS_PORT": str(port),
        }
        service = mlmon_background("plot", "--logs", str(killed), env=env, log_path=tmp_path / "p")
        try:
            wait_for(lambda: (killed / CHANGE_LOG).exists() and _change_points(killed), 60, "cp")
            wait_for(lambda: any(b["series"] == "m" for b in received), 30, "a notification for m")
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
            text = metrics.read().decode()
        finally:
            os.kill(service.pid, signal.SIGKILL)
            service.wait(10)
    body = next(b for b in received if b["series"] == "m")
    assert (body["alert"], body["state"]) == ("change-point", "firing")
    assert 'mlmon_change_points_total{detector="adwin",model="m",segment=""} 1.0' in text
    before_kill = _change_points(killed)
    with (killed / METRIC_LOG).open("a") as log:  # the log went on growing meanwhile
        log.write("".join(lines[30_000:]))
    again = mlmon("plot", "--logs", str(killed), "--once")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _change_points(killed) == expected
    assert _change_points(killed)[: len(before_kill)] == before_kill
    # Announced once: the restart logged only the change points after the kill.
    announced = again.stderr.count("change point: ")
    assert announced == len(expected) - len(before_kill)
    assert (killed / "metrics_over_time.png").stat().st_size > 0

    _the_dashboard_marks_them(killed, tmp_path, chromium)


def _the_dashboard_marks_them(logs: Path, tmp_path: Path, chromium: str) -> None:
    """The change-point table lists them, and the over-time chart has a line for the model's."""
    port = free_port()
    dashboard = mlmon_background(
        "dashboard", "--logs", str(logs), "--port", str(port), env={}, log_path=tmp_path / "d"
    )
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            for _ in range(100):  # the server takes a moment to start
                try:
                    page.goto(f"http://127.0.0.1:{port}/")
                    break
                except PlaywrightError:
                    time.sleep(0.2)
            page.wait_for_selector("#changes-table tr[data-detector]", timeout=30_000)
            rows = page.locator("#changes-table tr[data-detector]").count()
            assert rows == len(_change_points(logs))
            markers = page.evaluate(
                "Chart.getChart('over-time').options.plugins.markerLines.markers.map(m => m.label)"
            )
            # The 60 % rise (both detectors, one line) and the later rise of eu's errors.
            whole_model = [p for p in _change_points(logs) if p[2] == ""]
            assert markers[0] == "▼ adwin + page-hinkley"
            assert 1 < len(markers) < len(whole_model)
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            browser.close()
    finally:
        dashboard.send_signal(signal.SIGINT)
        dashboard.wait(timeout=30)
