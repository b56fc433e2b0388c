"""`mlmon report`: figures per model and window from the logs, and the join's health."""

from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest

from mlmon.metric_log import tail
from mlmon.metric_log.reader import MetricLogReader
from mlmon.monitoring.quality import QualityTracker
from mlmon.ops import report as report_module
from mlmon.ops.report import (
    build_report,
    count_orphans,
    current_report,
    format_report,
    read_log,
)
from mlmon.ops.status import ServiceStats, write_status
from mlmon.summary.log_summary import LogSummary


def write_log(path: Path, rows: list[tuple[str, float, float, str, float]]) -> None:
    lines = ["id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at"]
    lines += [f"{i},{t!r},{p!r},{abs(t - p)!r},{m},1,,{at!r}" for i, t, p, m, at in rows]
    path.write_text("\n".join(lines) + "\n")


def test_figures_match_numpy_per_model_and_window(tmp_path: Path) -> None:
    """MAE and RMSE per model equal numpy's over all rows and over the last N rows."""
    rng = np.random.default_rng(3)
    truth = rng.normal(150, 50, 300)
    good, bad = truth + rng.normal(0, 5, 300), truth + rng.normal(0, 40, 300)
    rows = [(f"a{i}", float(truth[i]), float(good[i]), "good", float(i)) for i in range(300)]
    rows += [(f"b{i}", float(truth[i]), float(bad[i]), "bad", float(i)) for i in range(300)]
    write_log(tmp_path / "metric_log.csv", rows)
    report = build_report(
        read_log(tmp_path, now=300.0, count_window=100, time_window=50.0),
        count_orphans(tmp_path),
        [],
    )
    for model, predictions in (("good", good), ("bad", bad)):
        windows = report["models"][model]
        errors = np.abs(truth - predictions)
        assert windows["all"]["count"] == 300
        assert np.isclose(windows["all"]["mae"], errors.mean())
        assert np.isclose(windows["last_100"]["rmse"], np.sqrt((errors[-100:] ** 2).mean()))
        assert windows["last_50s"]["count"] == 49  # joined_at in (300 - 50, 300]: 251..299
    assert report["models"]["good"]["all"]["mae"] < report["models"]["bad"]["all"]["mae"]
    text = format_report(report)
    assert "model bad" in text
    # Several models: a side-by-side table first, best MAE in the first column.
    side_by_side = text.splitlines()[:4]
    assert side_by_side[0] == "models side by side (all), best mae first"
    assert side_by_side[1].split() == ["figure", "good", "bad"]
    good_mae, bad_mae = (float(v) for v in side_by_side[3].split()[1:])
    assert good_mae < bad_mae


def test_join_health_counts_orphans_and_pending(tmp_path: Path) -> None:
    """Coverage is joined / (joined + waiting + orphaned predictions)."""
    write_log(tmp_path / "metric_log.csv", [("x", 1.0, 2.0, "m", 1.0)] * 6)
    (tmp_path / "orphans.csv").write_text(
        "id,kind,value,model,arrived_at,expired_at\np,y_pred,1,m,0,9\nt,y_true,1,,0,9\n"
    )
    statuses = [
        {
            "service": "metric",
            "gauges": {"pending_y_pred": 3, "pending_y_true": 2},
            "counters": {"duplicates": 4, "dead_lettered": 1},
        }
    ]
    join = build_report(read_log(tmp_path, 10.0), count_orphans(tmp_path), statuses)["join"]
    assert join["rows"] == 6
    assert join["label_coverage"] == 6 / (6 + 3 + 1)
    assert join["pending"] == {"y_true": 2, "y_pred": 3}
    assert join["orphans"] == {"y_true": 1, "y_pred": 1}
    assert (join["dead_lettered"], join["duplicates"]) == (1, 4)


def test_empty_logs_say_so(tmp_path: Path) -> None:
    """No log yet: an empty report that says there are no rows, not a traceback."""
    report = build_report(read_log(tmp_path, 0.0), count_orphans(tmp_path), [])
    assert report["models"] == {}
    assert "no rows in metric_log.csv yet" in format_report(report)


def whole_log_figures(
    path: Path, now: float, count_window: int, time_window: float
) -> dict[str, dict[str, dict[str, object]]]:
    """The report's figures as it first computed them: every row of the log in lists (csv
    module), then one batch per model in joined_at order, and the quantiles of the windows'
    errors."""
    pairs: dict[str, tuple[list[float], list[float], list[float]]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            try:
                y_true, y_pred = float(row["y_true"]), float(row["y_pred"])
                joined_at = float(row.get("joined_at") or "nan")
            except (KeyError, TypeError, ValueError):
                continue
            if not (math.isfinite(y_true) and math.isfinite(y_pred)):
                continue
            trues, preds, stamps = pairs.setdefault(row.get("model") or "unknown", ([], [], []))
            trues.append(y_true)
            preds.append(y_pred)
            stamps.append(joined_at)
    tracker = QualityTracker(count_windows=(count_window,), time_windows=(time_window,))
    errors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for model, (trues, preds, stamps) in sorted(pairs.items()):
        at = np.asarray(stamps)
        at = np.where(np.isfinite(at), at, now)
        order = np.argsort(at, kind="stable")
        tracker.add_many(model, np.asarray(trues)[order], np.asarray(preds)[order], at[order])
        errors[model] = (np.abs(np.asarray(preds) - np.asarray(trues))[order], at[order])
    figures = {
        model: {window: figures.to_dict() for window, figures in windows.items()}
        for model, windows in tracker.snapshot(now).items()
    }
    # Quantiles of the windows' own errors, exact (numpy's linear quantile, as the PNG's).
    for model, (error, at) in errors.items():
        kept = {"all": error, f"last_{time_window:g}s": error[at > now - time_window]}
        figures[model][f"last_{count_window}"]["quantiles"] = "exact"
        for window, values in kept.items():
            figures[model][window]["quantiles"] = "exact"
            if values.size:
                p50, p90, p99 = np.quantile(values, [0.5, 0.9, 0.99]).tolist()
                figures[model][window].update(
                    abs_error_p50=p50, abs_error_p90=p90, abs_error_p99=p99
                )
    return figures


def write_generated_log(path: Path, rows: int = 4_000, seed: int = 11) -> float:
    """Two models joined in batches of 1-40 rows that share a join time, as the metric service
    writes them, with a few rows the report must skip (no y_true, NaN, short); returns the
    last join time."""
    rng = np.random.default_rng(seed)
    lines = ["id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at"]
    at = 1_000.0
    written = 0
    while written < rows:
        size = int(rng.integers(1, 41))
        model = ("champion", "challenger")[int(rng.integers(0, 2))]
        at += float(rng.exponential(0.5))
        truth = rng.normal(150, 50, size)
        pred = truth + rng.normal(0, 10 if model == "champion" else 25, size)
        for t, p in zip(truth.tolist(), pred.tolist(), strict=True):
            lines.append(f"k{written},{t!r},{p!r},{abs(t - p)!r},{model},1,{at - 0.01!r},{at!r}")
            written += 1
        if written % 7 == 0:
            lines.append(f"bad{written},,1.0,1.0,{model},1,,{at!r}")
            lines.append(f"nan{written},1.0,nan,1.0,{model},1,,{at!r}")
            lines.append(f"short{written},1.0")
    path.write_text("\n".join(lines) + "\n")
    return at


@pytest.mark.parametrize("block_bytes", [tail.READ_BYTES, 4_096])
def test_text_is_that_of_the_whole_log_read_at_once(
    tmp_path: Path, block_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read block by block (one, or a hundred or so), the log gives the text the report gave
    when it held every row, and the same figures to the last few digits (sums are added per
    block)."""
    monkeypatch.setattr(tail, "READ_BYTES", block_bytes)
    now = write_generated_log(tmp_path / "metric_log.csv") + 1.0
    report = current_report(
        tmp_path, tmp_path / "state", now, count_window=300, time_window=10.0, from_log=True
    )
    expected = whole_log_figures(tmp_path / "metric_log.csv", now, 300, 10.0)
    assert 0 < report["models"]["champion"]["last_10s"]["count"] < 1_000
    assert report["models"].keys() == expected.keys() == {"champion", "challenger"}
    for model, windows in expected.items():
        for window, figures in windows.items():
            got = report["models"][model][window]
            assert got.keys() == figures.keys()
            for name, value in figures.items():
                if isinstance(value, str):  # where the quantiles come from
                    assert got[name] == value, (model, window, name)
                    continue
                assert got[name] == pytest.approx(value, rel=1e-12, abs=1e-12), (model, window)
    assert report["join"]["rows"] == sum(w["all"]["count"] for w in expected.values())
    assert format_report(report) == format_report({**report, "models": expected})


def test_a_seed_log_is_one_unnamed_model_joined_now(tmp_path: Path) -> None:
    """The seeds' four columns name no model and no join time: their rows are model "unknown",
    all joined at the report's time (so inside its time window)."""
    (tmp_path / "metric_log.csv").write_text(
        "id,y_true,y_pred,absolute_error\n1,10.0,12.0,2.0\n2,20.0,16.0,4.0\n3,x,1.0,1.0\n"
    )
    report = build_report(
        read_log(tmp_path, now=50.0, time_window=5.0), count_orphans(tmp_path), []
    )
    assert list(report["models"]) == ["unknown"]
    windows = report["models"]["unknown"]
    assert windows["all"]["count"] == windows["last_5s"]["count"] == report["join"]["rows"] == 2
    assert windows["all"]["mae"] == 3.0
    assert format_report(report) == format_report(
        {**report, "models": whole_log_figures(tmp_path / "metric_log.csv", 50.0, 500, 5.0)}
    )


def write_run(
    path: Path, errors: np.ndarray, start: float, models: tuple[str, ...] = ("m",)
) -> None:
    """A finished run: one row a second from `start`, y_true 100 + i, y_pred off by `errors`
    (signs alternating), the log's mtime an hour old (nothing is writing it)."""
    rows = []
    for i, error in enumerate(errors.tolist()):
        truth = 100.0 + i
        pred = truth + (error if i % 2 else -error)
        rows.append((f"k{i}", truth, pred, models[i % len(models)], start + i))
    write_log(path, rows)
    old = start + len(rows) - 3_600.0
    os.utime(path, (old, old))


def test_quantiles_of_a_small_log_are_exact_as_in_the_png(tmp_path: Path) -> None:
    """1,255 rows: every window's p50/p90/p99 is numpy's linear quantile of its errors, the
    median the error-distribution PNG prints (the sketch gave 38.17 for an exact 38.00)."""
    errors = np.random.default_rng(8).lognormal(np.log(38.0), 0.8, 1_255)
    start = 1.7e9
    write_run(tmp_path / "metric_log.csv", errors, start)
    now = start + 1_255 + 5.0
    report = current_report(tmp_path, tmp_path / "state", now, count_window=500, from_log=True)
    windows = report["models"]["m"]
    logged = np.abs(read_errors(tmp_path / "metric_log.csv"))
    summary = LogSummary()
    MetricLogReader(tmp_path / "metric_log.csv", summary).poll()
    (group,) = summary.error_groups()  # what render/error_distribution.py draws
    assert windows["all"]["abs_error_p50"] == group.median() == float(np.median(logged))
    for window, kept in (("all", logged), ("last_500", logged[-500:]), ("last_60s", logged[-60:])):
        assert windows[window]["quantiles"] == "exact"
        assert windows[window]["count"] == kept.size
        expected = [float(q) for q in np.quantile(kept, [0.5, 0.9, 0.99])]
        got = [windows[window][f"abs_error_p{p}"] for p in (50, 90, 99)]
        assert got == expected, window
    assert "~" not in format_report(report)


def read_errors(path: Path) -> np.ndarray:
    with path.open(newline="", encoding="utf-8") as handle:
        return np.array([float(row["absolute_error"]) for row in csv.DictReader(handle)])


def test_quantiles_past_the_exact_bound_come_from_the_sketch_marked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window holding more rows than the report keeps takes the sketch's quantiles (within
    0.5 %) and the table marks them "~" and says why; the JSON says "sketch"."""
    monkeypatch.setattr(report_module, "EXACT_ROWS", 300)
    errors = np.random.default_rng(9).lognormal(np.log(38.0), 0.8, 1_255)
    write_run(tmp_path / "metric_log.csv", errors, 1.7e9)
    report = current_report(tmp_path, tmp_path / "state", 1.8e9, count_window=500, from_log=True)
    windows = report["models"]["m"]
    assert (windows["all"]["quantiles"], windows["last_60s"]["quantiles"]) == ("sketch", "exact")
    assert windows["all"]["abs_error_p50"] == pytest.approx(np.median(errors), rel=0.005)
    text = format_report(report)
    p50 = next(line for line in text.splitlines() if line.strip().startswith("abs_error_p50"))
    assert p50.split()[-1].startswith("~")  # `all`, the last column
    assert not p50.split()[1].startswith("~")
    assert "~ quantiles from a streaming sketch" in text


def test_mape_is_printed_in_percent_and_kept_a_fraction_in_json(tmp_path: Path) -> None:
    """Every prediction 12 % off: the table reads 12 under "mape %", the JSON 0.12 with its
    unit named."""
    rows = [(f"k{i}", 100.0, 112.0, "m", float(i)) for i in range(9)]
    write_log(tmp_path / "metric_log.csv", rows)
    report = build_report(read_log(tmp_path, now=10.0), count_orphans(tmp_path), [])
    assert report["models"]["m"]["all"]["mape"] == pytest.approx(0.12)
    assert report["units"]["mape"].startswith("fraction")
    mape = next(line for line in format_report(report).splitlines() if "mape" in line)
    assert mape.split()[:2] == ["mape", "%"]
    assert [float(cell) for cell in mape.split()[2:]] == pytest.approx([12.0] * 3)


def test_a_finished_runs_time_window_ends_at_its_last_row(tmp_path: Path) -> None:
    """A log nothing writes any more: `last_60s` is the run's last minute (it read "-"
    throughout, the window ending at the wall clock hours later), and the table says where
    it ends."""
    start = 1.7e9
    write_run(tmp_path / "metric_log.csv", np.full(200, 5.0), start)
    now = start + 200 + 7_200.0  # two hours after the last row
    report = current_report(tmp_path, tmp_path / "state", now, from_log=True)
    assert report["models"]["m"]["last_60s"]["count"] == 60  # joined after last - 60 s
    assert report["models"]["m"]["last_60s"]["mae"] == 5.0
    last_row = start + 199
    assert report["time_windows"] == {"end": last_row, "end_is": "last_row"}
    at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last_row))
    assert f"last_60s: the 60 s up to the log's last row ({at})" in format_report(report)


def test_a_live_runs_time_window_ends_now(tmp_path: Path) -> None:
    """While the metric service reports (or the log is being written), the window ends at
    the clock: rows older than it are outside, however recent the log's last row."""
    start = 1.7e9
    write_run(tmp_path / "metric_log.csv", np.full(200, 5.0), start)
    now = start + 200 + 7_200.0
    state = tmp_path / "state"
    write_status(state, ServiceStats("metric", ready=True))  # stamped with the real clock
    statuses = report_module.read_statuses(state, since=now - 15)
    assert report_module.metric_running(statuses), statuses
    report = current_report(tmp_path, state, now, from_log=True)
    assert report["models"]["m"]["last_60s"]["count"] == 0
    assert report["time_windows"] == {"end": now, "end_is": "now"}
    os.utime(tmp_path / "metric_log.csv", (now - 2, now - 2))  # a writer without status files
    assert report_module._written_since(tmp_path / "metric_log.csv", now)
