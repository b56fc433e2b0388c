"""`LineTail`: the complete lines appended to a file since the last read, noticing a file that
was replaced, removed, cut back or rewritten (then reading it again from the top)."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

READ_BYTES = 4 << 20  # lines are handed over in blocks of at most this, so buffers stay small
TAIL_BYTES = 64  # bytes before the offset compared on each read, to notice a rewritten file


class LineTail:
    """The complete lines appended to a file since the last read, block by block. If the file
    is replaced, removed, cut back or rewritten below what was read, it starts again from the
    top, telling `on_reset` why first; a line the writer has only half written waits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rewind()

    def rewind(self) -> None:
        """Read the file again from the top on the next read."""
        self.offset = 0  # end of the last complete line read
        self._tail = b""  # the bytes before it, to notice a rewrite
        self._identity: tuple[int, int] | None = None

    def read(self, take: Callable[[bytes], int], on_reset: Callable[[str], None]) -> int:
        """Hand each block of new complete lines to `take`; return the sum of what it returns.
        Nothing new costs one `stat`."""
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            if self._identity is not None:
                self.rewind()
                on_reset("disappeared")
            return 0
        if (status.st_dev, status.st_ino) == self._identity and status.st_size == self.offset:
            return 0
        try:
            with self.path.open("rb") as handle:
                return self._read(handle, take, on_reset)
        except FileNotFoundError:
            return 0  # removed between stat and open; the next read resets

    def _read(
        self,
        handle: io.BufferedReader,
        take: Callable[[bytes], int],
        on_reset: Callable[[str], None],
    ) -> int:
        status = os.fstat(handle.fileno())
        identity = (status.st_dev, status.st_ino)
        reason = None
        if self._identity is not None and identity != self._identity:
            reason = "was replaced"
        elif status.st_size < self.offset:
            reason = "shrank below what was read"
        elif self._tail:
            handle.seek(self.offset - len(self._tail))
            if handle.read(len(self._tail)) != self._tail:
                reason = "was rewritten"
        if reason is not None:
            self.rewind()
            on_reset(reason)
        self._identity = identity
        handle.seek(self.offset)
        remaining = status.st_size - self.offset  # lines appended meanwhile wait for next read
        taken = 0
        carry = b""
        while remaining > 0:
            block = handle.read(min(READ_BYTES, remaining))
            if not block:
                break  # cut back while we read; the next read notices
            remaining -= len(block)
            data = carry + block if carry else block
            end = data.rfind(b"\n") + 1
            carry = data[end:]
            if end:
                taken += take(data[:end])
                self.offset += end
                self._tail = data[max(0, end - TAIL_BYTES) : end]
        return taken
