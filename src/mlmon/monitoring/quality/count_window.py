"""`last_N`: a model's last N records in a ring buffer."""

from __future__ import annotations

import numpy as np

from mlmon.arrays import Floats


class LastCount:
    """A model's last `size` (y_true, y_pred) pairs in a ring buffer (order within not kept)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._true = np.empty(size)
        self._pred = np.empty(size)
        self._next = 0
        self._filled = 0

    def add(self, y_true: float, y_pred: float) -> None:
        self._true[self._next] = y_true
        self._pred[self._next] = y_pred
        self._next = (self._next + 1) % self.size
        self._filled = min(self._filled + 1, self.size)

    def extend(self, y_true: Floats, y_pred: Floats) -> None:
        k = min(y_true.size, self.size)
        y_true, y_pred = y_true[y_true.size - k :], y_pred[y_pred.size - k :]
        first = min(k, self.size - self._next)
        self._true[self._next : self._next + first] = y_true[:first]
        self._pred[self._next : self._next + first] = y_pred[:first]
        self._true[: k - first] = y_true[first:]
        self._pred[: k - first] = y_pred[first:]
        self._next = (self._next + k) % self.size
        self._filled = min(self._filled + k, self.size)

    @property
    def held(self) -> int:
        return self._filled

    def values(self) -> tuple[Floats, Floats]:
        # Until the buffer first fills, its slots 0.._filled-1 are exactly the window.
        return self._true[: self._filled], self._pred[: self._filled]
