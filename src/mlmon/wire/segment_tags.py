"""Tags made from feature values, so a model's quality can be split by a categorical feature
(MLMON_SEGMENT_FEATURES): the model service adds them to each prediction it answers, the
metric service to each prediction that carries its `features`.

A feature's value becomes the tag of the same name: text as it is, a number as Python writes
it ("2.0"), a missing value (null, NaN, or the feature absent) as MISSING_VALUE. The record's
own tags win over a feature's of the same name, and tags stay within `checks`' limits: names
and values cut to MAX_TAG_CHARS, features past MAX_TAGS tags in all are left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mlmon.wire.checks import MAX_TAG_CHARS, MAX_TAGS

MISSING_VALUE = "(missing)"


def tag_text(value: object) -> str:
    """A feature's value as a tag's value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_VALUE
    text = value if isinstance(value, str) else str(value)
    return text[:MAX_TAG_CHARS] if text else MISSING_VALUE


def with_feature_tags(
    tags: Mapping[str, str] | None, features: Mapping[str, Any], names: Sequence[str]
) -> dict[str, str] | None:
    """`tags` with the values of the features `names` added (see the module's docstring)."""
    if not names:
        return None if tags is None else dict(tags)
    out = dict(tags or {})
    for name in names:
        key = name[:MAX_TAG_CHARS]
        if key in out:
            continue
        if len(out) >= MAX_TAGS:
            break
        out[key] = tag_text(features.get(name))
    return out or None


def feature_tag_rows(
    tags: Sequence[Mapping[str, str] | None] | None,
    columns: Mapping[str, Any],  # name -> a sequence or numpy array of values
    names: Sequence[str],
    rows: int,
) -> list[dict[str, str] | None]:
    """`with_feature_tags` of each of `rows` rows, from feature columns (each value's text
    found once per distinct value)."""
    texts: dict[str, list[str]] = {}
    for name in names:
        column = columns.get(name)
        if column is None:
            texts[name] = [MISSING_VALUE] * rows
            continue
        values = column.tolist() if hasattr(column, "tolist") else list(column)
        seen: dict[Any, str] = {}  # texts, hashable values only (features are str, float, None)
        texts[name] = [seen.get(v) or seen.setdefault(v, tag_text(v)) for v in values]
    return [
        with_feature_tags(
            None if tags is None else tags[row], {name: texts[name][row] for name in names}, names
        )
        for row in range(rows)
    ]
