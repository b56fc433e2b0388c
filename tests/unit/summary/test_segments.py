"""Segments read from a metric log file: the view the dashboard and the report show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mlmon.metric_log.layout import METRIC_COLUMNS
from mlmon.metric_log.reader import MetricLogReader
from mlmon.ops.segment_report import segment_lines
from mlmon.summary.segments import SegmentSummary


def _write(path: Path, rows: int, eu_factor: float, classification: bool, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    lines = [",".join(METRIC_COLUMNS)]
    for i in range(rows):
        region = ("eu", "us", "apac")[i % 3]
        factor = eu_factor if region == "eu" else 1.0
        if classification:
            wrong = rng.random() < 0.1 * factor
            y_true, y_pred, error = "Adelie", "Gentoo" if wrong else "Adelie", str(int(wrong))
        else:
            error = f"{abs(rng.normal(0, 10)) * factor:.4f}"
            y_true, y_pred = "0", error
        tags = json.dumps({"region": region}).replace('"', '""')
        lines.append(f'{i},{y_true},{y_pred},{error},m,1,{i},{i},,"{tags}"')
    path.write_text("\n".join(lines) + "\n")


def _view(path: Path, classifiers: frozenset[str] = frozenset()) -> dict[str, Any]:
    summary = SegmentSummary()
    reader = MetricLogReader(path, summary)
    reader.poll()
    assert reader.skipped == 0
    return summary.view(classifiers)


def test_the_doubled_region_tops_the_view_and_the_report(tmp_path: Path) -> None:
    log = tmp_path / "metric_log.csv"
    _write(log, 3000, 2.0, False)
    view = _view(log)
    assert [(w["model"], w["key"], w["value"]) for w in view["worst"]] == [("m", "region", "eu")]
    assert view["tested"] == 3
    text = "\n".join(segment_lines(view))
    assert "region=eu" in text
    assert "mae " in text


def test_a_classifier_shows_accuracy_and_nothing_is_listed_without_a_worse_segment(
    tmp_path: Path,
) -> None:
    log = tmp_path / "metric_log.csv"
    _write(log, 3000, 1.0, True)
    view = _view(log, frozenset({"m"}))
    assert view["worst"] == []
    (key,) = view["keys"]
    assert {value["value_of"] for value in key["values"]} == {"accuracy"}
    assert all(0.8 < value["figure"] < 1.0 for value in key["values"])
    assert segment_lines(view)[0].startswith("worst segments: none is worse than its model")


def test_a_log_without_tags_shows_no_segments(tmp_path: Path) -> None:
    log = tmp_path / "metric_log.csv"
    log.write_text(",".join(METRIC_COLUMNS) + "\n1,1,2,1,m,1,1,1,,\n")
    view = _view(log)
    assert view["keys"] == []
    assert view["worst"] == []
    assert segment_lines(view) == []
