"""Arrow batches of true values and predictions as the metric joins them: a whole batch's half
(`whole_arrow_half`), and each row's scores and tags cells of the log (`arrow_extras`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlmon.join.batches import BatchHalf, batch_keys, digest, score_columns
from mlmon.metric_log.lines import extra_cells_columns
from mlmon.wire.arrow import RecordColumns, is_arrow_stream, rewrite_rows
from mlmon.wire.segment_tags import feature_tag_rows


def arrow_extras(columns: RecordColumns, segment: tuple[str, ...] = ()) -> list[str]:
    """Each row's scores and tags cells of the log ("" for none): its scores, its tags, and the
    values of the `segment` features as tags (MLMON_SEGMENT_FEATURES)."""
    tags = columns.tags
    if columns.features is not None and segment:
        tags = feature_tag_rows(tags, columns.features, segment, len(columns))
    return extra_cells_columns(len(columns), columns.classes, columns.scores, tags)


@dataclass(frozen=True)
class ArrowWhole:
    """A named Arrow batch to join whole: its half (its usable rows) and which rows those are;
    its refused rows (`RecordColumns.bad`) are dead-lettered one by one, as JSON."""

    half: BatchHalf
    kept: list[int]


def whole_arrow_half(
    name: str, body: bytes, columns: RecordColumns, model: str, version: str,
    sent_at: float | None, now: float, truth: bool, segment: tuple[str, ...] = (),
) -> ArrowWhole | str | None:  # fmt: skip
    """A named Arrow batch (`x-mlmon-batch`, as mlmon's features and model services send
    them) to join whole, as the msgpack batches are: its usable rows, whatever the refused
    ones (so that both halves of a batch go the same way, however each one's rows fare); a row
    without `ts` takes the publish time (`sent_at`), as in the record join. None for an
    unnamed batch; the reason (a text) why a named one cannot join whole (an id twice, rows
    of several models or versions): the caller joins it record by record and says so."""
    if not name or columns.values is None:
        return None
    kept = columns.usable()
    every_row = len(kept) == len(columns)  # the usual batch: no row refused, no copies
    keys = batch_keys(columns.ids if every_row else [columns.ids[i] for i in kept])
    if keys is None:
        return "an id appears twice in it"
    if columns.models and len(kept):
        named = _distinct(columns.models, kept, every_row, model)
        if len(named) > 1:
            return "its rows name several models"
        model = named.pop()
    if columns.versions and len(kept):
        named = _distinct(columns.versions, kept, every_row, version)
        if len(named) > 1:
            return "its rows name several versions"
        version = named.pop()
    ts = columns.ts if every_row else columns.ts[kept]
    filled = sent_at is not None and bool(np.isnan(ts).any())
    if sent_at is not None and filled:
        ts = np.where(np.isnan(ts), sent_at, ts)
    stored = body
    if len(kept) < len(columns) or filled or not is_arrow_stream(body):
        # What the store keeps reads back as exactly these rows (`join.batches.read_body`).
        stored = rewrite_rows(
            body, kept if len(kept) < len(columns) else None, ts if filled else None
        )
    extras = scores = None
    if not truth:
        every = arrow_extras(columns, segment)
        if any(every):
            extras = every if every_row else [every[i] for i in kept]
        found = score_columns(columns)
        if found is not None:
            scores = (found[0], found[1] if every_row else found[1][kept])
    values = columns.values if every_row else columns.values[kept]
    half = BatchHalf(
        name, keys, values, ts, stored, digest(body), now, model, version, extras, None, scores
    )
    return ArrowWhole(half, kept)


def _distinct(names: list[str], kept: list[int], every_row: bool, default: str) -> set[str]:
    """The model (or version) names of the kept rows, an empty one taken as `default`."""
    found = set(names) if every_row else {names[i] for i in kept}
    return {name or default for name in found}
