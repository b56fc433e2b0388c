"""`Ring`: the last `size` rows of a stream in a fixed 2-D numpy buffer (no allocation per row)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


class Ring:
    """The last `size` rows of `width` cells of one dtype, written in place, oldest overwritten.

    `rows()` gives the rows held, in no particular order: what windowed statistics need."""

    def __init__(self, size: int, width: int, dtype: Any, fill: Any) -> None:
        if size < 1:
            msg = f"a ring holds at least one row, not {size}"
            raise ValueError(msg)
        self.size = size
        self._buffer = np.full((size, width), fill, dtype=dtype)
        self._next = 0  # buffer row the next stream row goes to
        self._filled = 0

    def __len__(self) -> int:
        return self._filled

    def push(self, block: npt.NDArray[Any]) -> None:
        """Append (k, width) rows; of more than `size` only the last `size` are kept."""
        k = block.shape[0]
        if k >= self.size:
            block, k = block[-self.size :], self.size
        end = self._next + k
        if end <= self.size:
            self._buffer[self._next : end] = block
        else:
            split = self.size - self._next
            self._buffer[self._next :] = block[:split]
            self._buffer[: end - self.size] = block[split:]
        self._next = end % self.size
        self._filled = min(self._filled + k, self.size)

    def rows(self) -> npt.NDArray[Any]:
        """The rows held (a view): until the buffer first fills, rows 0.._filled-1 are them."""
        return self._buffer[: self._filled]
