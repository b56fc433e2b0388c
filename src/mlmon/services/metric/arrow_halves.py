"""Arrow batches of true values and predictions as the metric joins them: a whole batch's half
(`whole_arrow_half`), and each row's scores and tags cells of the log (`arrow_extras`)."""

from __future__ import annotations

import numpy as np

from mlmon.join.batches import BatchHalf, batch_keys, digest, score_columns
from mlmon.metric_log.lines import extra_cells_columns
from mlmon.wire.arrow import RecordColumns
from mlmon.wire.segment_tags import feature_tag_rows


def arrow_extras(columns: RecordColumns, segment: tuple[str, ...] = ()) -> list[str]:
    """Each row's scores and tags cells of the log ("" for none): its scores, its tags, and the
    values of the `segment` features as tags (MLMON_SEGMENT_FEATURES)."""
    tags = columns.tags
    if columns.features is not None and segment:
        tags = feature_tag_rows(tags, columns.features, segment, len(columns))
    return extra_cells_columns(len(columns), columns.classes, columns.scores, tags)


def whole_arrow_half(
    name: str, body: bytes, columns: RecordColumns, model: str, version: str, now: float,
    truth: bool, segment: tuple[str, ...] = (),
) -> BatchHalf | None:  # fmt: skip
    """An Arrow batch to join whole, or None for the record-by-record path: it must be named
    (`x-mlmon-batch`, as mlmon's features and model services send them), with unique ids,
    every row usable and timed, and one model and version (a refused row, a row without `ts`
    or a mix of models takes the record path, which handles each row)."""
    if not name or columns.bad or not len(columns) or columns.values is None:
        return None
    if not bool(np.isfinite(columns.ts).all()):
        return None
    if columns.models:
        if len(set(columns.models)) > 1:
            return None
        model = columns.models[0] or model
    if columns.versions:
        if len(set(columns.versions)) > 1:
            return None
        version = columns.versions[0] or version
    keys = batch_keys(columns.ids)
    if keys is None:
        return None
    extras = None if truth else arrow_extras(columns, segment)
    return BatchHalf(
        name, keys, columns.values, columns.ts, body, digest(body), now, model, version,
        extras if extras is not None and any(extras) else None, None,
        None if truth else score_columns(columns),
    )  # fmt: skip
