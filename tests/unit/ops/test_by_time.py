"""Quality by event time read back, reported, signalled to the rules and exported as gauges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlmon.monitoring.quality.by_time import ByEventTime
from mlmon.ops.by_time import (
    BucketGauges,
    ByTimeFile,
    bucket_signals,
    by_time_lines,
    dashboard_view,
    latest_buckets,
    read_by_time,
)
from mlmon.summary.by_time import BY_TIME_FILE, by_time_rows, write_by_time

START = 1_700_000_100  # a whole hour
WAIT = 600.0


def _by_time() -> ByEventTime:
    """Model m: four 5-minute buckets with MAE 1, 2, 3, 4 (two rows each); classifier c: one."""
    by_time = ByEventTime()
    for k in range(4):
        sent = np.full(2, START + k * 300 + 10.0)
        errors = np.full(2, k + 1.0)
        by_time.add("m", sent, np.zeros(2), errors, errors, False)
    one = np.array([START + 10.0])
    by_time.add("c", one, np.array([1.0]), np.array([0.0]), np.array([1.0]), True)
    return by_time


def _rows(now: float) -> list[dict[str, Any]]:
    rows = by_time_rows(_by_time().buckets(), now, WAIT)
    for row in rows:  # the metric service's prediction counts: half of each bucket labelled
        row["predicted"], row["completeness"] = 2 * row["rows"], 0.5
    return rows


# At NOW the first two buckets of m (ending START+300, START+600) are final, the others not.
NOW = START + 600 + WAIT


def test_the_file_reads_back_as_written(tmp_path: Path) -> None:
    write_by_time(tmp_path / BY_TIME_FILE, _rows(NOW))
    rows = read_by_time(tmp_path / BY_TIME_FILE)
    first = next(r for r in rows if r["model"] == "m")
    assert first["bucket_start"] == START
    assert (first["bucket_end"], first["rows"], first["predicted"]) == (START + 300, 2, 4)
    assert (first["state"], first["completeness"], first["mae"]) == ("final", 0.5, 1.0)
    assert first["accuracy"] is None
    states = [r["state"] for r in rows if r["model"] == "m"]
    assert states == ["final", "final", "provisional", "provisional"]


def test_the_file_is_read_again_only_when_it_changed(tmp_path: Path) -> None:
    seen = ByTimeFile(tmp_path)
    assert seen.rows() == []
    write_by_time(tmp_path / BY_TIME_FILE, _rows(NOW))
    first = seen.rows()
    assert len(first) == 5
    assert seen.rows() is first  # unchanged: not parsed again
    write_by_time(tmp_path / BY_TIME_FILE, _rows(NOW)[:1])
    assert len(seen.rows()) == 1


def test_the_dashboard_draws_mae_or_accuracy(tmp_path: Path) -> None:
    write_by_time(tmp_path / BY_TIME_FILE, _rows(NOW))
    view = {m["model"]: m for m in dashboard_view(read_by_time(tmp_path / BY_TIME_FILE), 3)}
    assert (view["m"]["figure"], view["c"]["figure"]) == ("mae", "accuracy")
    assert [b["mae"] for b in view["m"]["buckets"]] == [2.0, 3.0, 4.0]  # the latest 3


def test_the_report_lists_the_latest_buckets_and_the_latest_final_one(tmp_path: Path) -> None:
    write_by_time(tmp_path / BY_TIME_FILE, _rows(NOW))
    buckets = latest_buckets(tmp_path, count=1)
    assert [(b["model"], b["mae"], b["state"]) for b in buckets if b["model"] == "m"] == [
        ("m", 2.0, "final"),  # older than the latest, and the latest final
        ("m", 4.0, "provisional"),
    ]
    lines = by_time_lines(buckets)
    assert lines[0].startswith(f"quality by event time ({BY_TIME_FILE}")
    newest, final = (lines[lines.index("  m") + k].split() for k in (2, 3))
    assert newest[2:7] == ["5m", "provisional", "2", "50%", "4"]  # newest first
    assert final[2:7] == ["5m", "final", "2", "50%", "2"]
    assert "accuracy" in lines[lines.index("  c") + 1]


def test_signals_per_selector_and_model() -> None:
    signals = bucket_signals(_by_time(), ["final", "final_1h", "provisional"], NOW, WAIT)
    assert signals["m"]["mae[final]"] == 2.0
    assert signals["m"]["mae[provisional]"] == 4.0
    assert "mae[final_1h]" not in signals["m"]  # the hour ends at START+3600: not final yet
    later = bucket_signals(_by_time(), ["final_1h"], START + 3_600 + WAIT, WAIT)
    assert later["m"] == {
        "mae[final_1h]": 2.5,
        "rmse[final_1h]": pytest.approx(np.sqrt(7.5)),
        "bias[final_1h]": 2.5,
        "rows[final_1h]": 8.0,
    }
    assert later["c"]["accuracy[final_1h]"] == 0.0


def test_gauges_hold_the_latest_final_and_provisional_bucket() -> None:
    gauges = BucketGauges()
    gauges.update(_rows(NOW))
    samples = {
        (s.name, s.labels["model"], s.labels["state"]): s.value
        for family in gauges.collect()
        for s in family.samples
    }
    assert samples[("mlmon_bucket_mae", "m", "final")] == 2.0
    assert samples[("mlmon_bucket_mae", "m", "provisional")] == 4.0
    assert samples[("mlmon_bucket_completeness", "m", "final")] == 0.5
    assert samples[("mlmon_bucket_rows", "m", "provisional")] == 2.0
    assert samples[("mlmon_bucket_start_seconds", "m", "final")] == START + 300
    assert samples[("mlmon_bucket_accuracy", "c", "final")] == 0.0
    assert ("mlmon_bucket_mae", "c", "final") not in samples


def test_the_estimate_error_is_given_only_for_final_buckets_and_signals_rules(
    tmp_path: Path,
) -> None:
    """A provisional bucket's realized figure is that of its labels so far: the gap to the
    estimate is not the estimator's error yet. A final one's is, and rules can read it."""
    by_time = _by_time()
    cells = {START + k * 300: np.array([2.0, 2.0 * (k + 1.5), 0.0]) for k in range(4)}
    by_time.set_predicted({"m": {s: 2 for s in cells}}, {"m": cells})
    rows = by_time_rows(by_time.buckets(), NOW, WAIT)
    m = [r for r in rows if r["model"] == "m"]
    assert [r["est_mae"] for r in m] == [1.5, 2.5, 3.5, 4.5]
    assert [r["estimate_error"] for r in m] == [0.5, 0.5, None, None]
    write_by_time(tmp_path / BY_TIME_FILE, rows)
    back = [r for r in read_by_time(tmp_path / BY_TIME_FILE) if r["model"] == "m"]
    assert [r["est_mae"] for r in back] == [1.5, 2.5, 3.5, 4.5]
    assert [r["estimate_error"] for r in back] == [0.5, 0.5, None, None]
    signals = bucket_signals(by_time, ["final", "provisional"], NOW, WAIT)["m"]
    assert signals["estimate_error[final]"] == 0.5
    assert signals["est_mae[provisional]"] == 4.5
    assert "estimate_error[provisional]" not in signals
    assert any("est_mae" in line for line in by_time_lines(back))


def test_a_regressor_before_any_label_is_drawn_by_its_estimated_mae() -> None:
    rows = [{"model": "m", "bucket_start": START, "state": "provisional", "mae": None,
             "accuracy": None, "est_mae": 12.0}]  # fmt: skip
    assert dashboard_view(rows)[0]["figure"] == "mae"
