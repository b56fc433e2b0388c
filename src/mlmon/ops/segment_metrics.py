"""Prometheus gauges of segment quality, from the rows the metric service joins (since it
started; the dashboard and the report read the whole log).

Per model, a `SegmentTable` fed each written batch (its tags read once per distinct cell).
A scrape exports, per model, its listed worst segments and each tag key's SHOWN_VALUES most
frequent values, so series stay bounded: at most keys x (SHOWN_VALUES + SHOWN_WORST) a model.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlmon.arrays import Floats
from mlmon.join.joined import Joined
from mlmon.metric_log.cells import TagColumn, extras_tags
from mlmon.monitoring.segments import SegmentTable, segment_qualities, worst_segments
from mlmon.monitoring.segments.worst import distributions
from mlmon.summary.segments import SHOWN_WORST, frequent_values
from mlmon.wire import Y_PRED, Y_TRUE
from mlmon.wire.labels import code_mask

LABELS = ("model", "key", "value")
Rows = slice | npt.NDArray[np.intp]
Groups = Mapping[tuple[str, str], Rows]  # (model, version) -> its rows


class SegmentMetrics(Collector):
    """Segment quality by model, tag key and value, as gauges (see the module's docstring)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._tables: dict[str, SegmentTable] = {}
        self._classifiers: set[str] = set()
        self._lock = threading.Lock()  # observed by the service, collected by the scraper
        registry.register(self)

    def observe(self, joined: Joined, errors: Floats, classification: bool, groups: Groups) -> None:
        """A written batch's rows: their errors as the log writes them (0/1 for a
        classifier's), and the rows of each (model, version)."""
        extras = joined.extras
        if extras is None:
            tags, scored = TagColumn.empty(len(errors)), np.zeros(len(errors), np.bool_)
        else:
            tags, scored = extras_tags(extras)
        # A classifier's rows: the task says so, or labels as text, or scores (Joined.classified
        # would read the extra cells once more).
        classified = scored | code_mask(joined.column(Y_TRUE)) | code_mask(joined.column(Y_PRED))
        classified |= classification
        with self._lock:
            for model, rows in _rows_by_name(groups).items():
                table = self._tables.get(model)
                if table is None:
                    table = self._tables[model] = SegmentTable()
                table.add(errors[rows], tags.index[rows], tags.distinct)
                if classified[rows].any():
                    self._classifiers.add(model)

    def describe(self) -> Iterator[Metric]:
        return iter(_families())

    def collect(self) -> Iterator[Metric]:
        rows, error, worse, listed = _families()
        distributions()  # imported (once) before the lock, which the service's writes need
        with self._lock:
            for model, table in self._tables.items():
                if not table.keys:
                    continue
                qualities = segment_qualities(table, model in self._classifiers)
                flagged = worst_segments(qualities)[:SHOWN_WORST]
                shown = {(q.key, q.value): q for q in flagged}
                for key in table.keys:
                    frequent = frequent_values(qualities, key)
                    shown.update(((q.key, q.value), q) for q in frequent)
                for quality in shown.values():
                    labels = [model, quality.key, quality.value]
                    rows.add_metric(labels, quality.count)
                    error.add_metric(labels, quality.mean_error)
                    worse.add_metric(labels, quality.worse_by)
                    listed.add_metric(labels, float(quality in flagged))
        yield from (rows, error, worse, listed)


def _rows_by_name(groups: Groups) -> dict[str, Rows]:
    """The rows of each model name, from those of each (model, version)."""
    if len(groups) == 1:
        ((model, _), rows), *_ = groups.items()
        return {model: rows}
    found: dict[str, list[npt.NDArray[np.intp]]] = {}
    for (model, _), rows in groups.items():
        assert not isinstance(rows, slice)  # several groups: each its own rows
        found.setdefault(model, []).append(rows)
    return {model: np.sort(np.concatenate(parts)) for model, parts in found.items()}


def _families() -> tuple[GaugeMetricFamily, ...]:
    return (
        GaugeMetricFamily("mlmon_segment_rows", "rows of a segment (a tag's value)", labels=LABELS),
        GaugeMetricFamily(
            "mlmon_segment_mean_error",
            "a segment's mean error: MAE, or a classifier's error rate",
            labels=LABELS,
        ),
        GaugeMetricFamily(
            "mlmon_segment_worse_by",
            "a segment's mean error over its model's, minus 1 (1 = twice)",
            labels=LABELS,
        ),
        GaugeMetricFamily(
            "mlmon_segment_listed",
            "1 when the segment is worse than the rest of its model (one-sided test, "
            "Bonferroni over the model's segments at 0.01), else 0",
            labels=LABELS,
        ),
    )
