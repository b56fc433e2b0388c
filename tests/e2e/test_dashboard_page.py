"""The dashboard page in a real browser (Debian's Chromium, driven by Playwright) on exact inputs:
no data yet, an unshifted stream's drift, a drifted column, two models, a firing alert, and
classifiers (alone, and beside a regression model).

Assertions read the page's DOM and Chart.js's own state (axis ranges, legend boxes, plugin
options), never pixels.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from mlmon.ops.alert_actions import Alerting
from mlmon.ops.status import ServiceStats
from mlmon.settings import Settings
from tests.e2e.dashboard_page import (
    CALM_PSI,
    PENGUINS,
    ServedPage,
    drift_status,
    served,
    write_class_log,
    write_log,
)

pytestmark = pytest.mark.e2e

CHARTS = ("histogram", "over-time", "scatter", "drift")
REGRESSION_CARDS = ("models-card", "histogram-card", "over-time-card", "scatter-card")
CLASSIFIER_CARDS = ("classifiers-card", "shares-card", "accuracy-over-time-card", "confusion-card")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[ServedPage]:
    with served(tmp_path / "logs") as page:
        yield page


@pytest.fixture
def page(site: ServedPage, chromium: str) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(site.url)
        page.wait_for_function("document.querySelector('#connection').textContent === 'live'")
        yield page
        assert problems == []
        browser.close()


def _next_snapshot(page: Page, site: ServedPage, statuses: list[dict[str, Any]]) -> None:
    """Send the page a snapshot and wait until it has drawn it."""
    site.show(statuses)
    page.wait_for_function(f"document.body.dataset.version === '{site.state.version}'")


def _drift(page: Page) -> Any:
    return page.evaluate(
        """() => {
          const chart = Chart.getChart('drift');
          const cells = (n) => [...document.querySelectorAll(`#drift-table td:nth-child(${n})`)];
          return {
            max: chart.scales.x.max,
            markers: chart.options.plugins.markerLines.markers,
            colors: chart.data.datasets[0].backgroundColor,
            labels: chart.data.labels,
            psi: cells(2).map((td) => td.textContent),
            ks: cells(3).map((td) => td.textContent),
          };
        }"""
    )


def test_before_the_first_figures_each_chart_says_what_it_waits_for(
    site: ServedPage, page: Page, tmp_path: Path
) -> None:
    for chart in CHARTS:
        assert not page.locator(f"#{chart}").is_visible(), f"{chart} shows empty axes"
        assert page.locator(f"#{chart}-waiting").is_visible(), chart
    assert "waiting for the first joined rows" in page.inner_text("#histogram-waiting")
    assert "waiting for the first drift report" in page.inner_text("#drift-waiting")

    write_log(tmp_path / "logs", {"model": 40.0}, rows=300)
    _next_snapshot(page, site, [drift_status("model", CALM_PSI)])
    for chart in CHARTS:
        assert page.locator(f"#{chart}").is_visible(), chart
        assert not page.locator(f"#{chart}-waiting").is_visible(), chart
    for card in CLASSIFIER_CARDS:  # a regression model's page is as it was
        assert not page.locator(f"#{card}").is_visible(), card


def test_an_unshifted_streams_drift_stays_calm_below_a_drawn_threshold(
    site: ServedPage, page: Page
) -> None:
    """PSI of ~0.001 (noise) on an axis that reaches past the 0.2 threshold, drawn and labelled."""
    _next_snapshot(page, site, [drift_status("model", CALM_PSI)])
    drift = _drift(page)
    assert drift["max"] >= 0.2  # not 0.0014, the largest PSI
    [threshold] = drift["markers"]
    assert threshold["x"] == 0.2
    assert "PSI 0.200: a large shift" in threshold["label"]
    calm = drift["colors"][0]
    assert set(drift["colors"]) == {calm}
    assert page.locator("#drift-table tr.drifted").count() == 0

    # A drifted column crosses the line in another colour; one just below it stays calm.
    drifted = {**CALM_PSI, "bmi": 0.62, "bp": 0.15}
    _next_snapshot(page, site, [drift_status("model", drifted)])
    drift = _drift(page)
    by_column = dict(zip(drift["labels"], drift["colors"], strict=True))
    assert by_column["bp"] == calm
    assert by_column["bmi"] != calm
    assert drift["max"] >= 0.62
    assert drift["psi"][2] == "PSI 0.620"
    row = page.locator('#drift-table tr[data-column="bmi"]')
    assert "drifted" in row.inner_text()
    assert page.locator("#drift-table tr.drifted").count() == 1


def test_drift_figures_share_one_format(site: ServedPage, page: Page) -> None:
    """Three decimals, "<0.001" below: never "0.00" beside "0.001"."""
    _next_snapshot(page, site, [drift_status("model", {**CALM_PSI, "bmi": 0.62})])
    drift = _drift(page)
    assert drift["psi"] == [
        "PSI 0.001",  # age, 0.0014
        "PSI <0.001",  # sex, 0.0003
        "PSI 0.620",  # bmi
        "PSI 0.001",  # bp, 0.0011
        "PSI <0.001",
        "PSI <0.001",
    ]
    assert set(drift["ks"]) == {"KS p 0.500"}


def test_categorical_drift_and_data_quality_are_shown(site: ServedPage, page: Page) -> None:
    """A categorical column shows its JS distance and chi-square p-value; the data quality
    card shows each feature's rates (a problem in red) and the schema changes."""
    island = {
        "kind": "categorical", "rows": 1000, "js_distance": 0.41, "chi2_pvalue": 1e-9,
        "adjusted_pvalue": 1e-8, "drifted": True, "warming_up": False,
    }  # fmt: skip
    rates = {"kind": "numeric", "missing_rate": 0.2, "out_of_range_rate": 0.0,
             "unseen_rate": None, "type_mismatch_rate": 0.007, "absent_rate": 0.0}  # fmt: skip
    quality = {
        "rows": 1000,
        "columns": {
            "bmi": rates,
            "island": {
                **rates,
                "kind": "categorical",
                "missing_rate": 0.0,
                "out_of_range_rate": None,
                "unseen_rate": 0.1,
                "type_mismatch_rate": 0.0,
            },
        },
        "new_columns": {"beak": 0.1},
        "schema_changes": ["+beak"],
    }
    status = drift_status("model", CALM_PSI, extra={"island": island}, data_quality=quality)
    _next_snapshot(page, site, [status])
    row = page.locator('#drift-table tr[data-column="island"]')
    assert "drifted" in row.inner_text()
    assert "JS 0.410" in row.inner_text()
    assert "χ² p <0.001" in row.inner_text()
    drift = _drift(page)
    assert drift["labels"][-1] == "island"
    bmi = page.locator('#data-quality-table tr[data-column="bmi"]')
    assert bmi.locator("td.missing_rate").inner_text() == "20.0 %"
    assert "drifted" in (bmi.locator("td.type_mismatch_rate").get_attribute("class") or "")
    assert bmi.locator("td.unseen_rate").inner_text() == "–"
    island_row = page.locator('#data-quality-table tr[data-column="island"]')
    assert island_row.locator("td.unseen_rate").inner_text() == "10.0 %"
    assert "+beak" in page.inner_text("#schema-changes")


def test_two_models_mean_and_median_labels_do_not_overlap(
    site: ServedPage, page: Page, tmp_path: Path
) -> None:
    """Close means and medians (MAE 40 and 42): their labels are legend entries laid out apart,
    not text drawn beside their lines."""
    write_log(tmp_path / "logs", {"good": 40.0, "bad": 42.0})
    _next_snapshot(page, site, [])
    legend = page.evaluate(
        """() => {
          const chart = Chart.getChart('histogram');
          return {
            texts: chart.legend.legendItems.map((item) => item.text),
            boxes: chart.legend.legendHitBoxes,
            drawn: chart.options.plugins.markerLines.markers.filter((m) => m.label).length,
          };
        }"""
    )
    figures = [t for t in legend["texts"] if " mean " in t or " median " in t]
    assert [t.split(" ")[:2] for t in figures] == [
        ["good", "mean"],
        ["good", "median"],
        ["bad", "mean"],
        ["bad", "median"],
    ]
    assert legend["drawn"] == 0  # no label beside a line on the plot
    boxes = legend["boxes"]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = (
                a["left"] + a["width"] <= b["left"]
                or b["left"] + b["width"] <= a["left"]
                or a["top"] + a["height"] <= b["top"]
                or b["top"] + b["height"] <= a["top"]
            )
            assert apart, (a, b)


@pytest.fixture
def firing() -> tuple[dict[str, Any], float]:
    """A model service's status with the alert its real `Alerting` fired, and when the condition
    began to hold (95 s ago); computed before the browser starts, whose loop runs meanwhile."""
    stats = ServiceStats("model")
    alerting = Alerting(Settings(alerts="high-mae: mae[last_500] > 50 for 30s"), stats)
    start = time.time() - 95
    signals = {"bad": {"mae[last_500]": 56.254}, "good": {"mae[last_500]": 43.0}}
    asyncio.run(alerting.check(signals, now=start))
    asyncio.run(alerting.check(signals, now=start + 31))
    return stats.snapshot(), start


def test_a_firing_alert_shows_its_rule_value_model_and_since(
    firing: tuple[dict[str, Any], float], site: ServedPage, page: Page
) -> None:
    status, start = firing
    _next_snapshot(page, site, [status])
    alert = page.locator('#alerts li[data-alert="high-mae"]')
    assert alert.get_attribute("data-series") == "bad"
    assert alert.locator('[data-field="rule"]').inner_text() == "mae[last_500] > 50 for 30 s"
    assert alert.locator('[data-field="value"]').inner_text() == "56.25"
    assert alert.locator('[data-field="series"]').inner_text() == "bad"
    since = alert.locator('[data-field="since"]').inner_text()
    assert since.startswith(time.strftime("%H:%M:%S", time.localtime(start)))
    ago = re.search(r"\((\d+) min (\d+) s ago\)", since)
    assert ago is not None, since
    # 95 s before the fixture ended, shown at some moment since (a slow machine: later).
    assert 94 <= 60 * int(ago[1]) + int(ago[2]) <= time.time() - start + 1


def _cards(page: Page, cards: tuple[str, ...]) -> list[bool]:
    return [page.locator(f"#{card}").is_visible() for card in cards]


def test_a_classifiers_page_shows_accuracy_shares_and_its_confusion_matrix(
    site: ServedPage, page: Page, tmp_path: Path
) -> None:
    """Text labels and scores in the log: classification figures instead of regression ones,
    models ranked by accuracy, the champion's confusion matrix by class name."""
    pairs = write_class_log(tmp_path / "logs", {"champion": 0.9, "challenger": 0.7})
    _next_snapshot(page, site, [])
    assert _cards(page, REGRESSION_CARDS) == [False] * 4
    assert _cards(page, CLASSIFIER_CARDS) == [True] * 4
    assert "best accuracy first" in page.inner_text("#classifiers-card h2")
    ranked = page.locator("#classifiers-table tr[data-model]")
    assert [ranked.nth(i).get_attribute("data-model") for i in range(2)] == [
        "champion",
        "challenger",
    ]
    for model, rows in pairs.items():
        accuracy = sum(t == p for t, p in rows) / len(rows)
        cells = page.locator(f'#classifiers-table tr[data-model="{model}"] td').all_inner_texts()
        assert cells[1] == f"{len(rows):,}"
        assert cells[2] == f"{100 * accuracy:.2f} %"
        assert all(cell != "–" for cell in cells[3:])  # F1, log loss, Brier, AUC: all scored
    assert "Log loss, Brier and ROC AUC" in page.inner_text("#classifiers-note")

    # The champion's confusion matrix: class names on both axes, counts as in the rows.
    table = page.locator("#confusion-table")
    assert table.locator("thead th").all_inner_texts()[1:4] == list(PENGUINS)
    assert table.locator("tbody th").all_inner_texts() == list(PENGUINS)
    counted = Counter(pairs["champion"])
    for truth in PENGUINS:
        for pred in PENGUINS:
            cell = table.locator(f'td[data-true="{truth}"][data-pred="{pred}"]')
            assert cell.inner_text() == f"{counted[truth, pred]:,}", (truth, pred)
    assert "champion, all 600 rows" in page.inner_text("#confusion-note")
    # The challenger's, when picked.
    page.select_option("#confusion-model", "challenger")
    counted = Counter(pairs["challenger"])
    cell = table.locator('td[data-true="Gentoo"][data-pred="Adelie"]')
    assert cell.inner_text() == f"{counted['Gentoo', 'Adelie']:,}"

    shares = page.evaluate(
        "() => Chart.getChart('shares').data.datasets.map((d) => d.data.map(Math.round))"
    )
    right = [sum(t == p for t, p in pairs[m]) / 6 for m in ("champion", "challenger")]
    assert shares == [[round(r) for r in right], [round(100 - r) for r in right]]
    lines = page.evaluate("() => Chart.getChart('accuracy-over-time').data.datasets.length")
    assert lines == 2
    page.screenshot(path=str(tmp_path / "classifier.png"), full_page=True)


def test_a_regression_model_and_a_classifier_each_show_their_own_way(
    site: ServedPage, page: Page, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    write_class_log(logs, {"classifier": 0.9}, rows=200)
    classified = (logs / "metric_log.csv").read_text().splitlines(keepends=True)
    write_log(logs, {"regressor": 40.0}, rows=200)
    rows = (logs / "metric_log.csv").read_text().splitlines(keepends=True)[1:]
    # One log of both: the regressor's rows with empty scores and tags.
    (logs / "metric_log.csv").write_text(
        "".join([*classified, *(row.rstrip("\n") + ",,\n" for row in rows)])
    )
    _next_snapshot(page, site, [])
    assert _cards(page, REGRESSION_CARDS) == [True] * 4
    assert _cards(page, CLASSIFIER_CARDS) == [True] * 4
    assert page.locator("#models-table tr[data-model]").all_inner_texts()[0].startswith("regressor")
    classifiers = page.locator("#classifiers-table tr[data-model]")
    assert classifiers.get_attribute("data-model") == "classifier"
    histogram = page.evaluate("() => Chart.getChart('histogram').data.datasets.map((d) => d.label)")
    assert "classifier" not in histogram
