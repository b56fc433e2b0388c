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


def test_a_model_is_a_classifier_by_the_dashboards_rule(tmp_path: Path) -> None:
    """The majority of a model's first rows decides, once (`model_kind`, as the dashboard and
    the report decide): a regression with one stray text label stays a regression, and a
    later block does not change the kind."""
    log = tmp_path / "metric_log.csv"
    lines = [",".join(METRIC_COLUMNS)]
    lines += [f"r{i},{i},{i + 2},2.0,reg,1,{i},{i},," for i in range(40)]
    lines.append("r40,Adelie,Gentoo,1,reg,1,40,40,,")
    log.write_text("\n".join(lines) + "\n")
    sink = ByTimeSink()
    reader = MetricLogReader(log, sink)
    reader.poll()
    assert sink.classifiers == frozenset()
    with log.open("a") as handle:
        handle.writelines(f"c{i},Adelie,Gentoo,1,reg,1,{50 + i},{50 + i},,\n" for i in range(80))
    reader.poll()
    assert sink.classifiers == frozenset()
