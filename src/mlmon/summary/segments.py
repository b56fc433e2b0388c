"""Quality per segment of each model, read from the log's `tags` column block by block
(`SegmentSummary`, a `RowSink`), and the view the dashboard and the report show of it.

Memory per model is a `SegmentTable`'s: at most MAX_KEYS keys of KEPT_VALUES values and
WATCHED_VALUES counters each, whatever the tags hold; the reader bounds the models.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from mlmon.arrays import rows_by_model
from mlmon.metric_log.fields import TAGS
from mlmon.metric_log.reader import RowBlock
from mlmon.monitoring.segments import (
    FAMILY_ALPHA,
    MIN_SEGMENT_ROWS,
    SegmentQuality,
    SegmentTable,
    segment_qualities,
    worst_segments,
)

SHOWN_VALUES = 5  # per key, the most frequent values shown with their figures
SHOWN_WORST = 10  # rows of the worst-segments table


class SegmentSummary:
    """A `RowSink` keeping a `SegmentTable` per model (by name, in order of first rows)."""

    columns = (TAGS,)

    def __init__(self) -> None:
        self.reset()

    def __repr__(self) -> str:
        return f"SegmentSummary(models={list(self.tables)})"

    def reset(self) -> None:
        self.tables: dict[str, SegmentTable] = {}

    def add(self, block: RowBlock) -> None:
        if not len(block) or block.tags is None:
            return
        tags = block.tags
        for code, rows in rows_by_model(block.codes):
            table = self.tables.get(block.names[code])
            if table is None:
                table = self.tables[block.names[code]] = SegmentTable()
            table.add(block.errors[rows], tags.index[rows], tags.distinct)

    def view(self, classifiers: Collection[str] = ()) -> dict[str, Any]:
        """What is shown: the worst segments of every model (`worst_segments`' rule), how many
        segments were tested, and per model and key its SHOWN_VALUES most frequent values."""
        worst: list[tuple[str, SegmentQuality]] = []
        tested = 0
        keys = []
        for model, table in self.tables.items():
            if not table.keys:
                continue
            qualities = segment_qualities(table, model in classifiers)
            tested += sum(1 for quality in qualities if quality.p_value == quality.p_value)
            worst += [(model, quality) for quality in worst_segments(qualities)]
            for key in table.keys:
                shown = frequent_values(qualities, key)
                keys.append({"model": model, "key": key, "values": [q.to_dict() for q in shown]})
        worst.sort(key=lambda pair: -pair[1].worse_by)
        return {
            "worst": [{"model": model, **q.to_dict()} for model, q in worst[:SHOWN_WORST]],
            "listed": len(worst),
            "tested": tested,
            "alpha": FAMILY_ALPHA,
            "min_rows": MIN_SEGMENT_ROWS,
            "keys": keys,
        }


def frequent_values(qualities: Iterable[SegmentQuality], key: str) -> list[SegmentQuality]:
    """The SHOWN_VALUES segments of `key` with the most rows, most first."""
    of_key = (quality for quality in qualities if quality.key == key)
    return sorted(of_key, key=lambda quality: -quality.count)[:SHOWN_VALUES]
