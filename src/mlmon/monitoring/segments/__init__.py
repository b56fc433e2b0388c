"""Quality per segment (a tag's value) of one model: bounded counts (`counts`) and the worst
segments, where an interval says a segment is worse than the rest of its model (`worst`).

Pure: fed column-wise, no I/O.
"""

from mlmon.monitoring.segments.counts import OTHER_VALUE, KeyValues, SegmentTable, Stats
from mlmon.monitoring.segments.worst import (
    FAMILY_ALPHA,
    MIN_SEGMENT_ROWS,
    SegmentQuality,
    segment_qualities,
    worst_segments,
)

__all__ = [
    "FAMILY_ALPHA",
    "MIN_SEGMENT_ROWS",
    "OTHER_VALUE",
    "KeyValues",
    "SegmentQuality",
    "SegmentTable",
    "Stats",
    "segment_qualities",
    "worst_segments",
]
