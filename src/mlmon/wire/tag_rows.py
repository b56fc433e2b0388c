"""Tags of a batch's rows kept column-wise (`TagRows`), as the Arrow reader makes them when every
row names the same tags, and the tags of some rows either way (`take_tags`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload


class TagRows(Sequence[dict[str, str] | None]):
    """Rows' tags kept column-wise, every row naming the same tags (the usual batch): a row's
    dict is made only when a row is read, while whole columns go on to another Arrow message
    or to the log's cells without one dict per row (a dict per row was a tenth of the model
    and metric services' time on a classifier's batches)."""

    __slots__ = ("columns", "names")

    def __init__(self, names: tuple[str, ...], columns: list[list[str]]) -> None:
        self.names = names
        self.columns = columns  # per name, one text per row

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    @overload
    def __getitem__(self, index: int) -> dict[str, str] | None: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, str] | None]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return dict(zip(self.names, (column[index] for column in self.columns), strict=True))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable-looking, like the lists it stands for

    def __repr__(self) -> str:
        return f"TagRows({self.names}, {len(self)} rows)"

    def take(self, rows: Sequence[int]) -> TagRows:
        return TagRows(self.names, [[column[i] for i in rows] for column in self.columns])


def take_tags(
    tags: Sequence[dict[str, str] | None] | None, rows: Sequence[int]
) -> Sequence[dict[str, str] | None] | None:
    """The tags of `rows`, column-wise if they were."""
    if tags is None:
        return None
    if isinstance(tags, TagRows):
        return tags.take(rows)
    return [tags[i] for i in rows]
