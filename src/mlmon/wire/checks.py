"""The checks of a record's optional fields: event time, tags, class scores, named values.

Each returns the field as it may be used or raises DecodeError with the reason, which the
services put on the dead-lettered message.
"""

from __future__ import annotations

import math
import time

from mlmon.errors import DecodeError

# An event time more than this many seconds ahead of the receiving clock is an error, not
# skew: most often milliseconds sent where seconds are expected.
MAX_FUTURE_SECONDS = 3600.0
# Tags name segments (region, device): a few short strings. A producer that puts a payload
# there would make every row of the log and every segment table carry it.
MAX_TAGS = 16
MAX_TAG_CHARS = 100
# Class probabilities must sum to 1 within this: float32 softmax outputs are off by ~1e-7,
# rounding to 3 decimals by up to ~5e-4 per class.
SCORE_SUM_TOLERANCE = 0.01
MAX_FEATURE_NAME_CHARS = 200


def check_ts(ts: float | None, raw: bytes) -> float | None:
    if ts is None:
        return None
    if not math.isfinite(ts) or ts <= 0:
        raise DecodeError(f"ts {ts!r} is not an epoch time in seconds", raw)
    ahead = ts - time.time()
    if ahead > MAX_FUTURE_SECONDS:
        hint = " (milliseconds? ts is in epoch seconds)" if ts > 1e11 else ""
        raise DecodeError(f"ts {ts!r} is {ahead:.0f} s in the future{hint}", raw)
    return ts


def check_tags(tags: dict[str, str] | None, raw: bytes) -> dict[str, str] | None:
    if not tags:
        return None
    if len(tags) > MAX_TAGS:
        raise DecodeError(f"{len(tags)} tags, more than {MAX_TAGS}", raw)
    for name, value in tags.items():
        if not name:
            raise DecodeError("a tag with an empty name", raw)
        if len(name) > MAX_TAG_CHARS or len(value) > MAX_TAG_CHARS:
            raise DecodeError(
                f"tag {name[:MAX_TAG_CHARS]!r} longer than {MAX_TAG_CHARS} characters", raw
            )
    return tags


def check_scores(scores: dict[str, float] | None, raw: bytes) -> dict[str, float] | None:
    if scores is None:
        return None
    if not scores:
        raise DecodeError("scores is an empty object", raw)
    total = 0.0
    for label, score in scores.items():
        if not math.isfinite(score) or score < 0.0 or score > 1.0:
            raise DecodeError(f"score of class {label!r} is {score!r}, not a probability", raw)
        total += score
    if abs(total - 1.0) > SCORE_SUM_TOLERANCE:
        raise DecodeError(
            f"scores sum to {total:.6g}, not 1 (within {SCORE_SUM_TOLERANCE}): they must be "
            "the probabilities of every class",
            raw,
        )
    return scores


def check_named(
    values: dict[str, float | str | None], raw: bytes, what: str
) -> dict[str, float | str | None]:
    if not values:
        raise DecodeError(f"{what} is an empty object", raw)
    for name, value in values.items():
        if not name or len(name) > MAX_FEATURE_NAME_CHARS:
            raise DecodeError(f"{what}: a feature name that is empty or too long", raw)
        if isinstance(value, float) and not math.isfinite(value):
            raise DecodeError(f"{what}: {name!r} is {value!r} (send null for missing)", raw)
    return values
