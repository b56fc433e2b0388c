"""`ChangeSink`: the metric log's rows, as the reader hands them over, into change detection."""

from __future__ import annotations

from collections import deque

import numpy as np

from mlmon.metric_log.reader import RowBlock
from mlmon.monitoring.detectors import ChangeDetection, ChangePoint, DetectorConfig
from mlmon.monitoring.quality.figures import Mode

KEPT = 1000  # change points kept for the pictures: the file holds them all


class ChangeSink:
    """Feeds `ChangeDetection` block by block; the change points found since the last `take`
    wait in `pending`, the latest KEPT in `recent`. Rows are classified per the task setting,
    or by a class label written as text."""

    columns = ("joined_at", "sent_at", "tags", "y_true", "y_pred")

    def __init__(self, task: Mode = "regression", config: DetectorConfig | None = None) -> None:
        self.task = task
        self.detection = ChangeDetection(config)
        self.pending: list[ChangePoint] = []
        self.recent: deque[ChangePoint] = deque(maxlen=KEPT)

    def add(self, block: RowBlock) -> None:
        if not len(block):
            return
        if self.task == "classification":
            classified = np.ones(len(block), dtype=np.bool_)
        else:
            classified = block.classified()
        found = self.detection.add(
            block.errors,
            block.codes,
            block.names,
            classified,
            block.column("joined_at"),
            block.column("sent_at"),
            None if block.tags is None else block.tags.rows(),
        )
        self.pending += found
        self.recent.extend(found)

    def reset(self) -> None:
        self.detection.reset()
        self.pending = []
        self.recent.clear()

    def take(self) -> list[ChangePoint]:
        """The change points found since the last call."""
        found, self.pending = self.pending, []
        return found
