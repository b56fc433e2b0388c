"""`mlmon report`: figures per model and window from the logs, and the join's health."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlmon.ops.report import build_report, count_orphans, format_report, read_pairs


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
        read_pairs(tmp_path),
        count_orphans(tmp_path),
        [],
        now=300.0,
        count_window=100,
        time_window=50.0,
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
    join = build_report(read_pairs(tmp_path), count_orphans(tmp_path), statuses, 10.0)["join"]
    assert join["rows"] == 6
    assert join["label_coverage"] == 6 / (6 + 3 + 1)
    assert join["pending"] == {"y_true": 2, "y_pred": 3}
    assert join["orphans"] == {"y_true": 1, "y_pred": 1}
    assert (join["dead_lettered"], join["duplicates"]) == (1, 4)


def test_empty_logs_say_so(tmp_path: Path) -> None:
    """No log yet: an empty report that says there are no rows, not a traceback."""
    report = build_report(read_pairs(tmp_path), count_orphans(tmp_path), [], 0.0)
    assert report["models"] == {}
    assert "no rows in metric_log.csv yet" in format_report(report)
