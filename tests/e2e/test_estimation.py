"""The issue's proof of quality by prediction time and of estimated quality before labels, on the
real services over the real RabbitMQ.

A model mlmon does not run logs its predictions with `mlmon.client` (features, and a
classifier's scores): eight 5-minute buckets of event time, the first four stationary, the last
four a covariate shift into the region where the model errs more. Its labels come late and
shuffled, in two waves; the metric service is SIGKILLed and restarted between them. Checked:

- before any label, every bucket has estimated figures (and no realized ones);
- at the end, every bucket's realized figures equal those computed from metric_log.csv grouped
  by event time, its completeness is 1, and its predictions were counted and estimated exactly
  once (the kill changed nothing);
- the estimate follows the shift: over the shifted buckets it is far closer to the realized
  figure than the reference's own figure (what a user could assume until the labels come).
"""

from __future__ import annotations

import csv
import math
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import sync_playwright

from mlmon.client import Monitor
from mlmon.model.predictors import load_model
from mlmon.ops.by_time import read_by_time
from mlmon.ops.status import read_statuses
from mlmon.settings import Settings
from tests.conftest import delete_queues
from tests.e2e.cli import mlmon_background
from tests.e2e.dashboard_page import served

BUCKETS, PER_BUCKET, WIDTH = 8, 300, 300
REFERENCE_ROWS = 3000


def _wait(condition: Callable[[], Any], patience: float, what: str) -> Any:
    deadline = time.monotonic() + patience
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
    return found


class Regression:
    """The shipped linear diabetes model; noise that grows with bmi; the shift: high bmi."""

    figure, estimated = "mae", "est_mae"

    def __init__(self, directory: Path) -> None:
        self.model_path: Path | None = None
        self.model = load_model(None)
        self.names = self.model.feature_names or tuple(f"x{i}" for i in range(10))

    def features(self, rng: np.random.Generator, rows: int, shifted: bool) -> np.ndarray:
        x = rng.normal(0.0, 0.045, size=(rows, len(self.names)))
        if shifted:
            x[:, 2] += 0.07  # bmi, where the noise is larger
        return x

    def outcome(self, rng: np.random.Generator, x: np.ndarray) -> tuple[Any, Any, Any]:
        predicted = self.model.predict(x)
        spread = 20.0 + 60.0 * np.clip(x[:, 2] / 0.045 + 1.0, 0.0, None)
        return predicted, predicted + rng.normal(0.0, spread), None

    def realized(self, rows: list[dict[str, str]]) -> dict[str, float]:
        error = np.array([float(r["y_pred"]) - float(r["y_true"]) for r in rows])
        return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt(np.mean(error**2))),
                "bias": float(error.mean())}  # fmt: skip


class Classification:
    """A logistic regression (skops) on four features; the shift: towards its boundary."""

    figure, estimated = "accuracy", "est_accuracy"
    classes = ("ham", "spam", "eggs")

    def __init__(self, directory: Path) -> None:
        import pandas as pd
        import skops.io
        from sklearn.linear_model import LogisticRegression

        self.names = ("x0", "x1", "x2", "x3")
        rng = np.random.default_rng(7)
        x = self.features(rng, 3000, False)
        labels = self._labels(rng, x)
        model = LogisticRegression(max_iter=500).fit(pd.DataFrame(x, columns=self.names), labels)
        self.model_path = directory / "classifier.skops"
        skops.io.dump(model, self.model_path)
        self.sklearn = model

    def features(self, rng: np.random.Generator, rows: int, shifted: bool) -> np.ndarray:
        x = rng.normal(0.0, 1.5, size=(rows, 4))
        if shifted:
            x[:, :2] *= 0.3  # near the boundary the classes overlap: less sure, more wrong
        return x

    def _labels(self, rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
        logits = np.column_stack([x[:, 0], x[:, 1], -x[:, 0] - x[:, 1]]) * 1.5
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        drawn = (rng.random(len(x))[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
        return np.array(self.classes, dtype=object)[np.minimum(drawn, 2)]

    def outcome(self, rng: np.random.Generator, x: np.ndarray) -> tuple[Any, Any, Any]:
        import pandas as pd

        frame = pd.DataFrame(x, columns=self.names)
        scores = self.sklearn.predict_proba(frame)
        predicted = self.sklearn.classes_[scores.argmax(axis=1)]
        named = [dict(zip(self.sklearn.classes_.tolist(), row, strict=True))
                 for row in scores.tolist()]  # fmt: skip
        return predicted, self._labels(rng, x), named

    def realized(self, rows: list[dict[str, str]]) -> dict[str, float]:
        hits = [r["y_pred"] == r["y_true"] for r in rows]
        return {"accuracy": float(np.mean(hits))}


def _write_reference(path: Path, case: Any, rng: np.random.Generator) -> float:
    """The labelled reference (stationary); returns its realized headline figure."""
    x = case.features(rng, REFERENCE_ROWS, False)
    predicted, truth, _ = case.outcome(rng, x)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*case.names, "target"])
        writer.writerows([*row, label] for row, label in zip(x.tolist(), truth, strict=True))
    if case.figure == "mae":
        return float(np.abs(np.asarray(predicted) - np.asarray(truth)).mean())
    return float(np.mean(np.asarray(predicted) == np.asarray(truth)))


@pytest.mark.parametrize("case_type", [Regression, Classification], ids=["dle", "cbpe"])
def test_quality_by_time_is_exact_and_estimated_before_labels(
    broker_url: str, tmp_path: Path, queue_names: dict[str, str], case_type: type, chromium: str
) -> None:
    rng = np.random.default_rng(11)
    case = case_type(tmp_path)
    logs = tmp_path / "logs"
    state = Settings(logs_dir=logs).state_dir
    reference_figure = _write_reference(tmp_path / "reference.csv", case, rng)
    env = {
        **{f"MLMON_{key.upper()}": value for key, value in queue_names.items()},
        "MLMON_BROKER_URL": broker_url,
        "MLMON_REFERENCE": str(tmp_path / "reference.csv"),
        "MLMON_TARGET": "target",
        "MLMON_MODEL_NAME": "m",  # the name the client logs under: the reference is m's
        "MLMON_MAX_LABEL_WAIT": "900",  # the buckets lie 3 hours back: final, labels or not
        "MLMON_PLOT_INTERVAL": "0.3",
        "MLMON_STATUS_INTERVAL": "0.5",
        **({"MLMON_MODEL_PATH": str(case.model_path)} if case.model_path else {}),
        **({"MLMON_TASK": "classification"} if case.figure == "accuracy" else {}),
    }
    metric_args = ("metric", "--broker", broker_url, "--logs", str(logs))

    def start_metric(n: int) -> subprocess.Popen[bytes]:
        return mlmon_background(*metric_args, env=env, log_path=tmp_path / f"metric{n}.log")

    metric = start_metric(1)
    plot = mlmon_background("plot", "--logs", str(logs), env=env, log_path=tmp_path / "plot.log")
    settings = Settings(broker_url=broker_url, **queue_names)  # type: ignore[arg-type]
    base = math.floor(time.time() / WIDTH) * WIDTH - 3 * 3600
    ids: list[str] = []
    truths: list[Any] = []
    try:
        _wait(lambda: "estimated quality before labels: on" in
              (tmp_path / "metric1.log").read_text(), 60, "the estimator fitted")  # fmt: skip
        with Monitor(model="m", settings=settings) as monitor:
            for bucket in range(BUCKETS):
                x = case.features(rng, PER_BUCKET, bucket >= BUCKETS // 2)
                predicted, truth, scores = case.outcome(rng, x)
                stamps = base + bucket * WIDTH + rng.uniform(0, WIDTH, PER_BUCKET)
                bucket_ids = [f"b{bucket}-{i}" for i in range(PER_BUCKET)]
                features = [dict(zip(case.names, row, strict=True)) for row in x.tolist()]
                monitor.log_predictions(
                    bucket_ids, list(predicted), features=features, scores=scores,
                    ts=stamps.tolist(),
                )  # fmt: skip
                ids += bucket_ids
                truths += list(truth)
            monitor.flush()

            # Before any label: estimated figures, no realized ones, completeness 0.
            def estimated_everywhere() -> list[dict[str, Any]] | None:
                rows = read_by_time(logs / "quality_by_time.csv")
                ok = len(rows) == BUCKETS and all(
                    r[case.estimated] is not None and r["rows"] == 0 for r in rows
                )
                return rows if ok else None

            before = _wait(estimated_everywhere, 60, "estimates of every bucket before labels")
            assert all(r[case.figure] is None and r["completeness"] == 0 for r in before)

            order = rng.permutation(len(ids))  # late and shuffled
            half = len(order) // 2
            monitor.log_labels([ids[i] for i in order[:half]], [truths[i] for i in order[:half]])
            monitor.flush()
        _wait(lambda: _rows(logs) >= half // 2, 60, "some labels joined")
        metric.send_signal(signal.SIGKILL)  # mid-stream: some of the wave not yet written
        metric.wait(30)
        metric = start_metric(2)
        with Monitor(model="m", settings=settings) as monitor:
            monitor.log_labels([ids[i] for i in order[half:]], [truths[i] for i in order[half:]])
            # the first wave again: redeliveries must not count twice anywhere
            monitor.log_labels([ids[i] for i in order[:half]], [truths[i] for i in order[:half]])
            monitor.flush()

        def complete() -> list[dict[str, Any]] | None:
            rows = read_by_time(logs / "quality_by_time.csv")
            ok = len(rows) == BUCKETS and all(r["completeness"] == 1 for r in rows)
            return rows if ok and _rows(logs) == len(ids) else None

        after = _wait(complete, 90, "every label joined and shown")
    finally:
        for process in (metric, plot):
            process.send_signal(signal.SIGINT)
        for process in (metric, plot):
            process.wait(60)
        delete_queues(broker_url, queue_names.values())

    with (logs / "metric_log.csv").open(newline="") as handle:
        log_rows = list(csv.DictReader(handle))
    assert len(log_rows) == len({r["id"] for r in log_rows}) == len(ids)  # once each
    groups: dict[int, list[dict[str, str]]] = {}
    for row in log_rows:
        groups.setdefault(math.floor(float(row["sent_at"]) / WIDTH) * WIDTH, []).append(row)
    gaps: dict[str, list[float]] = {"before": [], "after": []}
    reference_gaps: dict[str, list[float]] = {"before": [], "after": []}
    for bucket in after:
        expected = case.realized(groups[bucket["bucket_start"]])
        for name, value in expected.items():
            assert bucket[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
        assert bucket["rows"] == bucket["predicted"] == PER_BUCKET
        assert bucket["state"] == "final"
        period = "after" if bucket["bucket_start"] >= base + BUCKETS // 2 * WIDTH else "before"
        gaps[period].append(bucket["estimate_error"])
        reference_gaps[period].append(abs(reference_figure - bucket[case.figure]))
    cells = _estimated_rows(state)
    assert cells == {b["bucket_start"]: PER_BUCKET for b in after}  # each estimated once
    mean = {k: float(np.mean(v)) for k, v in gaps.items()}
    reference = {k: float(np.mean(v)) for k, v in reference_gaps.items()}
    print(f"{case.figure}: |estimated - realized| per final bucket {mean}; "
          f"|reference - realized| {reference}")  # fmt: skip
    # The shift moved the realized figure well away from the reference's, and the estimate
    # followed it: its error after the shift is a fraction of the reference figure's.
    assert reference["after"] > 3 * mean["after"], (mean, reference)
    assert metric.returncode == 0
    assert plot.returncode == 0
    _the_card_shows_estimates(logs, state, tmp_path, chromium, case.figure)


def _the_card_shows_estimates(
    logs: Path, state: Path, tmp_path: Path, chromium: str, figure: str
) -> None:
    """The dashboard's card: an estimated line beside the realized one, and per bucket the
    estimate and its error; the note says estimation is on."""
    statuses = read_statuses(state)
    with served(logs) as page_served, sync_playwright() as playwright:
        page_served.show(statuses)
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        page.goto(page_served.url)
        page.wait_for_selector("#by-time-table tr[data-state='final']", timeout=30_000)
        rows = page.locator("#by-time-table tr[data-state]").all()
        estimates = [row.locator("td.estimated").inner_text() for row in rows]
        errors = [row.locator("td.estimate-error").inner_text() for row in rows]
        assert estimates
        assert all(e not in ("", "–", "-") for e in estimates + errors)
        lines = page.evaluate(
            """Chart.getChart('by-time').data.datasets
               .filter((d) => d.type === 'line').map((d) => [d.label, d.data.length])"""
        )
        assert lines == [["m", BUCKETS], ["m estimated", BUCKETS]]
        note = page.locator("#by-time-note").inner_text()
        assert "estimation before labels on: " in note, note
        page.locator("#by-time-card").screenshot(path=str(tmp_path / f"card_{figure}.png"))
        browser.close()


def _rows(logs: Path) -> int:
    path = logs / "metric_log.csv"
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def _estimated_rows(state: Path) -> dict[int, int]:
    from mlmon.join.counts import read_estimated

    return {b: round(c[0]) for model in read_estimated(state).values() for b, c in model.items()}
