"""Jepsen-style accounting of a robustness run, for the records whose publish was confirmed.

- lost: confirmed, but no row;  - duplicated: more than one row for an id;
- recovered: not confirmed (the publish failed or timed out), yet a row appeared;
- unexpected: a row for an id nobody published;  - dead-lettered: messages in `<queue>.dead`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    confirmed: int
    rows: int
    lost: int
    duplicated: int
    recovered: int
    unexpected: int
    dead_lettered: int

    def table(self, title: str) -> str:
        cells = [
            ("confirmed", self.confirmed),
            ("rows", self.rows),
            ("lost", self.lost),
            ("duplicated", self.duplicated),
            ("recovered", self.recovered),
            ("unexpected", self.unexpected),
            ("dead-lettered", self.dead_lettered),
        ]
        head = " | ".join(name for name, _ in cells)
        values = " | ".join(f"{value:>{len(name)}}" for name, value in cells)
        return f"{title}\n| {head} |\n| {values} |"


def analyse(
    attempted: Iterable[str],
    confirmed: Iterable[str],
    row_ids: Iterable[str],
    dead_lettered: int = 0,
) -> Report:
    attempted_set, confirmed_set = set(attempted), set(confirmed)
    counts = Counter(row_ids)
    seen = set(counts)
    return Report(
        confirmed=len(confirmed_set),
        rows=sum(counts.values()),
        lost=len(confirmed_set - seen),
        duplicated=sum(n - 1 for n in counts.values() if n > 1),
        recovered=len((attempted_set - confirmed_set) & seen),
        unexpected=len(seen - attempted_set),
        dead_lettered=dead_lettered,
    )
