"""The live dashboard in a real browser (Debian's Chromium, driven by Playwright).

A champion and a clearly worse challenger run in `mlmon up`; the page must update itself while
records flow (no reload), rank the models by MAE, and show the alert that fires for the worse.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.e2e.cli import free_port, good_and_bad_models, mlmon_background

pytestmark = pytest.mark.e2e

RULE = "high-mae: mae[last_500] > 50 for 1s"  # bad's MAE is ~56, good's ~43


def _rows(page: Page) -> int:
    return int(page.inner_text("#rows").replace(",", ""))


def test_the_page_updates_live_ranks_models_and_shows_a_firing_alert(
    tmp_path: Path, chromium: str
) -> None:
    good, bad = good_and_bad_models(tmp_path)
    port = free_port()
    up = mlmon_background(
        "up",
        *("--model", str(good), "--model", str(bad), "--rate", "200", "--duration", "90"),
        *("--logs", str(tmp_path / "logs"), "--alerts", RULE),
        env={"MLMON_DASHBOARD_PORT": str(port)},
        log_path=tmp_path / "up.log",
    )
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            _open(page, f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#models-table tr[data-model]", timeout=30_000)

            # Figures change while records flow, without reloading the page: the row count and
            # what the histogram has drawn.
            drawn = "Chart.getChart('histogram').data.datasets[0].data.reduce((n, p) => n + p.y, 0)"
            counted = page.evaluate(drawn)
            page.wait_for_function(f"{drawn} > {counted}", timeout=15_000)
            first = _rows(page)
            page.wait_for_function(
                f"Number(document.querySelector('#rows').textContent.replace(/,/g, '')) > {first}",
                timeout=15_000,
            )
            assert _rows(page) > first
            assert page.inner_text("#connection") == "live"

            # The alert appears when it fires (for the worse model).
            page.wait_for_selector('[data-alert="high-mae"]', timeout=30_000)
            assert "bad" in page.inner_text("#alerts")

            # Models ranked by MAE, best first, with their figures.
            ranked = page.locator("#models-table tr[data-model]")
            names = [ranked.nth(i).get_attribute("data-model") for i in range(ranked.count())]
            maes = [float(ranked.nth(i).get_attribute("data-mae") or "nan") for i in range(2)]
            assert names == ["good", "bad"]
            assert maes[0] < maes[1]

            # Every chart has something drawn: both models in the histogram and over time.
            for chart, least in (("histogram", 4), ("over-time", 4), ("scatter", 3)):
                count = page.evaluate(f"Chart.getChart('{chart}').data.datasets.length")
                assert count >= least, chart
            page.wait_for_selector("#drift-table tr[data-column]", timeout=20_000)
            assert page.locator('#services-table tr[data-service="model"]').inner_text()
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            assert problems == []
            browser.close()
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
    assert up.returncode == 0, (tmp_path / "up.log").read_text()


def test_past_the_sample_the_page_says_which_figures_are_estimates(
    tmp_path: Path, chromium: str
) -> None:
    """A log longer than a model's sample (250,000 rows): the median and p90 are marked as
    estimates and the page says from how many of how many rows; the rest stays exact."""
    logs = tmp_path / "logs"
    logs.mkdir()
    rows = 7 * 37_143  # each error 0..6 equally often, but for the last row's
    # The last row's error of 1,000,000 makes the exact MAE (780,003 - 6 + 1e6) / 260,001 =
    # 6.85; a sample's mean would read ~7.00 with that row, ~3.00 without.
    errors = [float(i % 7) for i in range(rows - 1)] + [1e6]
    with (logs / "metric_log.csv").open("w") as handle:
        handle.write("id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at\n")
        handle.writelines(
            f"r{i},100.0,{100.0 + error!r},{error!r},solo,1,0.0,{1.7e9 + i / 1000!r}\n"
            for i, error in enumerate(errors)
        )
    port = free_port()
    dashboard = mlmon_background(
        "dashboard",
        *("--logs", str(logs), "--port", str(port)),
        env={},
        log_path=tmp_path / "dashboard.log",
    )
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            _open(page, f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#models-table tr[data-model=solo]", timeout=30_000)
            assert _rows(page) == rows
            cells = page.locator("#models-table tr[data-model=solo] td").all_inner_texts()
            assert cells[1] == "260,001"
            assert cells[2] == "6.85"  # the MAE, exact (not a sample's ~7.00 or ~3.00)
            assert cells[4].startswith("≈")  # the median, estimated
            assert cells[5].startswith("≈")  # the p90
            note = page.inner_text("#models-note")
            assert "250,000 of 260,001 rows" in note
            assert "MAE, RMSE, max and bias are exact" in note
            assert "250,000 of 260,001 rows" in page.inner_text("#histogram-note")
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            browser.close()
    finally:
        dashboard.send_signal(signal.SIGINT)
        dashboard.wait(timeout=30)


def _open(page: Page, url: str, patience: float = 30.0) -> None:
    """The server starts with `up`; keep trying until it answers."""
    deadline = time.monotonic() + patience
    while True:
        try:
            page.goto(url)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
