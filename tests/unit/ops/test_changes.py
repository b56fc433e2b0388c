"""change_points.csv: each change point once, its alert signals, its counters, the report."""

from __future__ import annotations

import math
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from mlmon.metric_log.layout import CHANGE_LOG
from mlmon.monitoring.alert_rules import parse_rules
from mlmon.monitoring.detectors import ChangePoint
from mlmon.ops.changes import ChangeFile, ChangeLog, change_lines, read_change_points
from mlmon.ops.prometheus_rules import rule_expression


def _point(row: int, detector: str = "adwin", segment: str = "") -> ChangePoint:
    return ChangePoint(row, "m", segment, detector, 100.0 + row, math.nan, 31.5, row)


def test_a_change_point_is_written_and_announced_once_across_restarts(tmp_path: Path) -> None:
    first = ChangeLog(tmp_path)
    assert [f.point for f in first.record([_point(10), _point(12, "page_hinkley")], 5.0)] == [
        _point(10),
        _point(12, "page_hinkley"),
    ]
    assert first.record([_point(10)], 6.0) == []
    first.close()
    again = ChangeLog(tmp_path)  # a restarted plot service finds them all again
    assert again.record([_point(10), _point(12, "page_hinkley")], 7.0) == []
    new = again.record([_point(10), _point(40, segment="region=eu")], 8.0)
    assert [f.point for f in new] == [_point(40, segment="region=eu")]
    again.close()
    found = read_change_points(tmp_path)
    assert [(f.point.row, f.found_at) for f in found] == [(10, 5.0), (12, 5.0), (40, 8.0)]
    assert math.isnan(found[0].point.sent_at)


def test_a_row_torn_by_a_crash_is_cut_off(tmp_path: Path) -> None:
    log = ChangeLog(tmp_path)
    log.record([_point(10)], 5.0)
    log.close()
    with (tmp_path / CHANGE_LOG).open("a") as handle:
        handle.write("12,m,,adw")  # the crash hit mid-row
    again = ChangeLog(tmp_path)
    assert [f.point.row for f in again.record([_point(12)], 6.0)] == [12]
    again.close()
    assert [f.point.row for f in read_change_points(tmp_path)] == [10, 12]


def test_signals_count_recent_change_points_per_series(tmp_path: Path) -> None:
    log = ChangeLog(tmp_path)
    log.record([_point(10)], 100.0)
    log.record([_point(20, "page_hinkley"), _point(20, segment="region=eu")], 4000.0)
    signals = log.signals(now=4100.0, hold=3600.0)
    assert signals["m"] == {
        "change_points[any]": 1.0,  # the one at 100 s is older than the hold
        "change_points[adwin]": 0.0,
        "change_points[page_hinkley]": 1.0,
    }
    assert signals["m region=eu"]["change_points[any]"] == 1.0
    log.close()


def test_prometheus_counts_per_stream_from_zero(tmp_path: Path) -> None:
    log = ChangeLog(tmp_path)
    log.streams = {("m", "", "adwin"), ("m", "", "page_hinkley")}
    log.record([_point(10)], 1.0)
    registry = CollectorRegistry()
    registry.register(log)
    text = generate_latest(registry).decode()
    assert 'mlmon_change_points_total{detector="adwin",model="m",segment=""} 1.0' in text
    assert 'mlmon_change_points_total{detector="page_hinkley",model="m",segment=""} 0.0' in text
    log.close()


def test_rules_and_their_prometheus_form() -> None:
    (rule,) = parse_rules("shift: change_points[adwin] > 0")
    expression, per_model = rule_expression(rule)
    assert per_model
    assert expression == (
        'sum by (model) (increase(mlmon_change_points_total{detector="adwin"}[1h])) > 0.0'
    )


def test_the_dashboard_and_the_report_list_the_latest_first(tmp_path: Path) -> None:
    file = ChangeFile(tmp_path)
    assert file.latest() == []
    log = ChangeLog(tmp_path)
    log.record([_point(10), _point(30, segment="region=eu")], 1.0)
    latest = file.latest()
    assert [p["row"] for p in latest] == [30, 10]
    assert latest[0]["sent_at"] is None  # NaN is no JSON
    lines = change_lines(latest)
    assert lines[1] == "  m region=eu: adwin at row 30, mean error 31.5 over 30 rows before"
    log.close()
