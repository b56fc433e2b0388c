"""ByTimeSink tells which models are classifiers (the over-time picture draws their error rate)."""

from __future__ import annotations

from pathlib import Path

from mlmon.metric_log.layout import METRIC_COLUMNS
from mlmon.metric_log.reader import MetricLogReader
from mlmon.summary.by_time import ByTimeSink


def _log(path: Path) -> None:
    lines = [",".join(METRIC_COLUMNS)]
    for i in range(40):
        lines.append(f"r{i},{i},{i + 2},2.0,reg,1,{i},{i},,")
        wrong = i % 4 == 0
        lines.append(f"c{i},Adelie,{'Gentoo' if wrong else 'Adelie'},{int(wrong)},clf,1,{i},{i},,")
    path.write_text("\n".join(lines) + "\n")


def test_models_with_class_labels_are_classifiers_and_a_reset_forgets_them(
    tmp_path: Path,
) -> None:
    log = tmp_path / "metric_log.csv"
    _log(log)
    sink = ByTimeSink()
    reader = MetricLogReader(log, sink)
    reader.poll()
    assert reader.skipped == 0
    assert sink.classifiers == {"clf"}
    sink.reset()
    assert sink.classifiers == set()


def test_the_classification_task_makes_every_model_a_classifier(tmp_path: Path) -> None:
    log = tmp_path / "metric_log.csv"
    _log(log)
    sink = ByTimeSink("classification")
    MetricLogReader(log, sink).poll()
    assert sink.classifiers == {"reg", "clf"}
