"""Record ids that are unique across processes and runs.

The seeds use `time.time()` as the id, which collides when two records are sent in the same
clock tick. mlmon ids are `<run>-<sequence>`: a random 48-bit run prefix per producer process
plus a counter, so they never collide in practice and stay readable in the CSV.
"""

from __future__ import annotations

import secrets


class IdGenerator:
    """Hands out `<run>-<n>` ids."""

    def __init__(self, run: str | None = None) -> None:
        self.run = run or secrets.token_hex(6)
        self._next = 0

    def __call__(self) -> str:
        self._next += 1
        return f"{self.run}-{self._next}"

    def take(self, n: int) -> list[str]:
        """The next n ids at once."""
        first, self._next = self._next + 1, self._next + n
        run = self.run
        return [f"{run}-{i}" for i in range(first, first + n)]

    def __repr__(self) -> str:
        return f"IdGenerator(run={self.run!r}, issued={self._next})"
