"""`ReadWhenChanged`: a file's parsed content, read again only when the file changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class ReadWhenChanged(Generic[T]):
    """`read(path)` again only when the file's size or modification time changed since the
    last call (the dashboard asks every second; the writers replace or append to the file);
    `empty` while there is no file."""

    def __init__(self, path: Path, read: Callable[[Path], T], empty: T) -> None:
        self.path = path
        self._read = read
        self._empty = empty
        self._seen: tuple[int, int] | None = None
        self._value = empty

    def get(self) -> T:
        try:
            status = self.path.stat()
            seen: tuple[int, int] | None = (status.st_size, status.st_mtime_ns)
        except FileNotFoundError:
            seen = None
        if seen != self._seen:
            self._seen = seen
            self._value = self._read(self.path) if seen else self._empty
        return self._value
