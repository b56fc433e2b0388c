"""The dashboard's figures, checked against numpy on the same rows."""

from __future__ import annotations

import itertools
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlmon.dashboard import state as state_module
from mlmon.dashboard.aggregates import (
    Rates,
    drift_reports,
    error_histogram,
    firing_alerts,
    latest_pairs,
    metrics_over_time,
    model_summaries,
    pipeline_health,
)
from mlmon.dashboard.state import DashboardState
from mlmon.metric_log.reader import RowBlock
from mlmon.summary.log_summary import SAMPLE_ROWS, LogSummary
from mlmon.summary.over_time import SECONDS


def columns(
    errors: np.ndarray,
    codes: np.ndarray,
    names: tuple[str, ...],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    joined_at: np.ndarray,
) -> RowBlock:
    return RowBlock(
        errors, codes, names, {"y_true": y_true, "y_pred": y_pred, "joined_at": joined_at}
    )


def summarised(log: RowBlock, sample_size: int = SAMPLE_ROWS, pieces: int = 7) -> LogSummary:
    """The log fed to a summary in uneven blocks, as polls would hand it over."""
    summary = LogSummary(sample_size)
    cuts = [0, *sorted(np.random.default_rng(0).integers(0, len(log), pieces - 1)), len(log)]
    for start, end in itertools.pairwise(cuts):
        extras = {name: column[start:end] for name, column in log.extras.items()}
        summary.add(RowBlock(log.errors[start:end], log.codes[start:end], log.names, extras))
    return summary


def two_models(n: int = 2000, seed: int = 1) -> RowBlock:
    rng = np.random.default_rng(seed)
    y_true = rng.normal(150, 50, n)
    codes = (np.arange(n) % 2).astype(np.int32)
    noise = np.where(codes == 0, rng.normal(0, 10, n), rng.normal(5, 40, n))
    y_pred = y_true + noise
    joined_at = 1_700_000_000.0 + np.arange(n) * 0.05  # 100 s of rows
    return columns(np.abs(noise), codes, ("good", "bad"), y_true, y_pred, joined_at)


def test_model_summaries_match_numpy() -> None:
    log = two_models()
    by_name = {s["model"]: s for s in model_summaries(summarised(log))}
    for code, name in enumerate(("good", "bad")):
        errors = log.errors[log.codes == code]
        figures = by_name[name]
        assert figures["rows"] == len(errors)
        assert figures["mae"] == pytest.approx(errors.mean())
        assert figures["rmse"] == pytest.approx(math.sqrt((errors**2).mean()))
        assert figures["median"] == pytest.approx(np.median(errors))
        assert figures["p90"] == pytest.approx(np.quantile(errors, 0.9))
        assert figures["max"] == errors.max()
        assert figures["sample"] == len(errors)  # every row: the median and p90 are exact
        bias = (log.column("y_pred") - log.column("y_true"))[log.codes == code].mean()
        assert figures["bias"] == pytest.approx(bias)
    assert by_name["good"]["mae"] < by_name["bad"]["mae"]


def test_histogram_counts_every_row_once_per_model() -> None:
    log = two_models()
    histogram = error_histogram(summarised(log))
    assert len(histogram["edges"]) == len(histogram["models"][0]["counts"]) + 1
    for code, model in enumerate(histogram["models"]):
        assert sum(model["counts"]) == int((log.codes == code).sum())
        assert model["mean"] == pytest.approx(log.errors[log.codes == code].mean())
        # The density is on the count axis: it integrates to about rows * bin width / bin width.
        width = histogram["edges"][1] - histogram["edges"][0]
        area = np.trapezoid(model["density_y"], model["density_x"]) / width
        assert area == pytest.approx(sum(model["counts"]), rel=0.05)


def test_metrics_over_time_buckets_by_joined_at() -> None:
    log = two_models()
    over_time = metrics_over_time(summarised(log), buckets=10)
    assert over_time["axis"] == "time"
    assert over_time["width"] == 10  # 100 s in at most 10 buckets
    good = over_time["models"][0]
    assert sum(good["rows"]) == int((log.codes == 0).sum())
    first = (log.codes == 0) & (log.column("joined_at") < over_time["start"][0] + 10)
    assert good["mae"][0] == pytest.approx(log.errors[first].mean(), abs=1e-4)
    assert good["rmse"][0] == pytest.approx(math.sqrt((log.errors[first] ** 2).mean()), abs=1e-4)


def test_metrics_over_time_of_a_seed_log_goes_by_row_and_leaves_gaps_empty() -> None:
    log = two_models(100)
    seed = columns(
        log.errors,
        np.zeros(100, np.int32),
        ("",),
        log.column("y_true"),
        log.column("y_pred"),
        np.full(100, np.nan),
    )
    over_time = metrics_over_time(summarised(seed), buckets=10)
    assert over_time["axis"] == "row"
    assert over_time["width"] == 10
    assert over_time["models"][0]["model"] == "model"
    assert over_time["models"][0]["mae"][3] == pytest.approx(log.errors[30:40].mean(), abs=1e-4)
    gappy = columns(
        np.array([1.0, 3.0]),
        np.zeros(2, np.int32),
        ("m",),
        np.zeros(2),
        np.zeros(2),
        np.array([0.0, 50.0]),
    )
    series = metrics_over_time(summarised(gappy, pieces=1), buckets=10)["models"][0]
    assert series["mae"][0] == 1.0
    assert series["mae"][-1] == 3.0
    assert None in series["mae"]  # the empty buckets between are gaps, not zeros


def test_bucket_widths_are_round_numbers() -> None:
    assert SECONDS.width(30, 60) == 1
    assert SECONDS.width(600, 60) == 10
    assert SECONDS.width(3 * 86400, 60) == 7200
    assert SECONDS.width(400 * 86400, 60) % 86400 == 0


def test_latest_pairs_are_the_last_rows_of_each_model() -> None:
    log = two_models(1000)
    sample = latest_pairs(summarised(log), points=5)
    bad_rows = np.flatnonzero(log.codes == 1)[-5:]
    assert sample[1]["model"] == "bad"
    assert sample[1]["y_true"] == pytest.approx(log.column("y_true")[bad_rows], abs=1e-4)
    assert sample[1]["y_pred"] == pytest.approx(log.column("y_pred")[bad_rows], abs=1e-4)


def test_rates_health_drift_and_alerts_from_statuses() -> None:
    def status(service: str, counters: dict[str, int], **extra: object) -> dict[str, object]:
        return {"service": service, "ready": True, "counters": counters, "gauges": {}, **extra}

    rates = Rates()
    before = [
        status("metric", {"joined": 100}, pid=1, updated_at=10.0),
        status("features", {"sent": 50}, pid=2, updated_at=10.5),
    ]
    assert rates.update(before, 11.0)["metric"] == 0.0  # no earlier reading yet
    assert rates.update(before, 11.5)["metric"] == 0.0  # the same files, not rewritten yet
    after = [
        status(
            "metric",
            {"joined": 300, "duplicates": 2, "dead_lettered": 1},
            gauges={"pending_y_true": 7, "pending_y_pred": 0},
            queue_depths={"y_true": 4},
            pid=1,
            updated_at=12.0,
        ),
        status("features", {"sent": 150}, pid=2, updated_at=12.5),
        status(
            "model",
            {"predicted": 10, "dead_lettered": 3},
            details={
                "drift": {"model": "good", "rows": 10, "columns": {"bmi": {"psi": 0.4}}},
                "alerts": [{"alert": "high-mae", "series": "good", "value": 61.0}],
            },
        ),
    ]
    # Rates by the statuses' own clocks (200 rows over 2 s), whenever the dashboard looks.
    now = rates.update(after, 12.9)
    assert now["metric"] == pytest.approx(100.0)
    assert now["features"] == pytest.approx(50.0)
    health = pipeline_health(after, now)
    assert health["pending"] == {"y_true": 7, "y_pred": 0}
    assert health["dead_lettered"] == 4
    assert health["duplicates"] == 2
    assert health["queues"] == {"y_true": 4}
    assert [s["service"] for s in health["services"]] == ["features", "model", "metric"]
    assert drift_reports(after) == [
        {
            "model": "good",
            "rows": 10,
            "warming_up": True,
            "min_rows": None,
            "psi_threshold": None,
            "fdr": None,
            "columns": [{"name": "bmi", "psi": 0.4}],
        }
    ]
    assert firing_alerts(after) == [
        {"alert": "high-mae", "series": "good", "value": 61.0, "service": "model"}
    ]


def test_no_rows_gives_empty_figures_not_errors() -> None:
    empty = LogSummary()
    empty.add(columns(np.empty(0), np.empty(0, np.int32), (), *[np.empty(0)] * 3))
    assert model_summaries(empty) == []
    assert error_histogram(empty) == {"edges": [], "models": []}
    assert metrics_over_time(empty)["models"] == []
    assert latest_pairs(empty) == []


def test_metrics_over_time_shows_the_current_run_of_a_reused_log() -> None:
    """Two runs an hour apart in one log: the series covers the latest, in fine buckets."""
    first, second = 1_700_000_000.0 + np.arange(30.0), 1_700_003_600.0 + np.arange(30.0)
    times = np.concatenate([first, second])
    errors = np.concatenate([np.full(30, 100.0), np.full(30, 1.0)])
    log = columns(errors, np.zeros(60, np.int32), ("m",), errors, errors, times)
    over_time = metrics_over_time(summarised(log), buckets=60)
    assert over_time["width"] == 1
    assert over_time["start"][0] >= second[0] - 1
    assert sum(over_time["models"][0]["rows"]) == 30
    assert set(over_time["models"][0]["mae"]) == {1.0}


def test_past_the_sample_rows_and_means_stay_exact_and_the_sample_is_stated() -> None:
    """More rows than a model's sample holds: rows, MAE, RMSE, max and bias stay exact; the
    median and p90 are estimates, and each figure gives the size of the sample behind it."""
    log = two_models(40_000)
    summary = summarised(log, sample_size=2_000)
    for code, figures in enumerate(model_summaries(summary)):
        mine = log.codes == code
        errors = log.errors[mine]
        assert figures["rows"] == len(errors) == 20_000
        assert figures["mae"] == pytest.approx(errors.mean(), rel=1e-12)
        assert figures["rmse"] == pytest.approx(math.sqrt((errors**2).mean()), rel=1e-12)
        assert figures["max"] == errors.max()
        bias = (log.column("y_pred") - log.column("y_true"))[mine].mean()
        assert figures["bias"] == pytest.approx(bias, rel=1e-9)
        assert figures["sample"] == 2_000
        assert figures["median"] == pytest.approx(np.median(errors), rel=0.1)
        assert figures["p90"] == pytest.approx(np.quantile(errors, 0.9), rel=0.1)
    histogram = error_histogram(summary)
    # The bins reach the rows' extremes, which a sample may miss.
    assert histogram["edges"][0] == pytest.approx(log.errors.min(), abs=1e-4)
    assert histogram["edges"][-1] == pytest.approx(log.errors.max(), abs=1e-4)
    width = histogram["edges"][1] - histogram["edges"][0]
    for model in histogram["models"]:
        assert (model["rows"], model["sample"]) == (20_000, 2_000)
        # Bars on the axis of rows: the sample's counts scaled up (each bin rounded).
        assert sum(model["counts"]) == pytest.approx(20_000, abs=len(model["counts"]))
        area = np.trapezoid(model["density_y"], model["density_x"]) / width
        assert area == pytest.approx(20_000, rel=0.05)


HEADER = "id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at\n"
STATUSES = [
    {
        "service": "model",
        "updated_at": 1.0,
        "details": {"alerts": [{"alert": "high-mae", "series": "m", "value": 9.0}]},
    }
]


def test_a_corrupt_joined_at_does_not_freeze_the_dashboard(tmp_path: Path) -> None:
    """One row with joined_at 1e19 once made every refresh raise before the snapshot was
    rebuilt (alerts, health and drift froze with it); now it is charted without that row."""
    timed = "".join(f"a{i},1,2,1.0,m,1,0,{1.7e9 + i}\n" for i in range(100))
    (tmp_path / "metric_log.csv").write_text(HEADER + timed + "z,1,2,1.0,m,1,0,1e19\n")
    state = DashboardState(tmp_path)
    snapshot = state.refresh(STATUSES)
    assert snapshot["rows"] == 101
    assert sum(snapshot["over_time"]["models"][0]["rows"]) == 100
    assert snapshot["alerts"][0]["alert"] == "high-mae"


def test_a_failing_figure_leaves_the_rest_of_the_page_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A figure that raises keeps its last value and is logged once; rows, the other figures,
    alerts and health are still published with a new version."""
    log = tmp_path / "metric_log.csv"
    log.write_text(HEADER + "".join(f"a{i},1,2,1.0,m,1,0,{1.7e9 + i}\n" for i in range(10)))
    state = DashboardState(tmp_path)
    assert sum(state.refresh([])["over_time"]["models"][0]["rows"]) == 10

    def broken(summary: LogSummary) -> dict[str, Any]:
        raise OverflowError("int64")

    monkeypatch.setitem(state_module.LOG_FIGURES, "over_time", broken)
    with caplog.at_level(logging.ERROR, logger="mlmon.dashboard.state"):
        for more in range(2):
            with log.open("a") as handle:
                handle.write(f"b{more},1,4,3.0,m,1,0,{1.7e9 + 20 + more}\n")
            snapshot = state.refresh(STATUSES, recompute=True)
    assert snapshot["version"] == 3
    assert snapshot["rows"] == snapshot["models"][0]["rows"] == 12
    assert sum(snapshot["over_time"]["models"][0]["rows"]) == 10  # the last one computed
    assert snapshot["alerts"][0]["alert"] == "high-mae"
    assert "services" in snapshot["health"]
    assert caplog.text.count("could not compute the dashboard's over_time") == 1


def test_a_log_cut_back_to_its_header_or_removed_clears_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log starting over brings no rows; its old figures must still leave the page."""
    monkeypatch.setattr(state_module, "COST_MULTIPLE", 0.0)  # every change recomputed at once
    log = tmp_path / "metric_log.csv"
    log.write_text(HEADER + "".join(f"a{i},1,2,1.0,old,1,0,{1.7e9 + i}\n" for i in range(100)))
    state = DashboardState(tmp_path)
    assert [m["model"] for m in state.refresh([])["models"]] == ["old"]
    with log.open("r+b") as handle:
        handle.truncate(len(HEADER))
    snapshot = state.refresh([])
    assert (snapshot["rows"], snapshot["models"], snapshot["scatter"]) == (0, [], [])
    assert snapshot["over_time"]["models"] == []
    log.write_text(HEADER + "b0,1,4,3.0,new,1,0,1.7e9\n")
    assert [m["model"] for m in state.refresh([])["models"]] == ["new"]
    log.unlink()
    snapshot = state.refresh([])
    assert (snapshot["rows"], snapshot["models"], snapshot["histogram"]["models"]) == (0, [], [])
