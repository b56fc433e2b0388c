"""Which bucket of quality by event time an alert rule reads, and buckets summed wider.

A rule names a bucket as `SIGNAL[STATE[_WIDTH][_PERCENT]]`, for example

    late-mae: mae[final] > 60           the latest final bucket (its own width)
    hourly: mae[final_1h] > 60          the latest final hour: its 5-minute buckets summed
    early: mae[provisional_80] > 60     the latest provisional bucket with >= 80 % of its labels

STATE is `final` (MLMON_MAX_LABEL_WAIT has passed since the bucket's end: no label can still
come) or `provisional` (the latest bucket still open). WIDTH (`15m`, `1h`, `1d`) sums the
buckets exactly into ones that wide, aligned to UTC; it must fit the tiers (a multiple of the
finest width that divides, or is a multiple of, each coarser one), and a bucket already wider
(old rows, merged as they aged) stays as it is. PERCENT, for `provisional` only, holds a rule
back until the bucket's label completeness (labelled / predicted) reaches it: a young bucket's
figure from its first few labels is noise. A bucket whose completeness is unknown never
qualifies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from mlmon.arrays import Floats
from mlmon.monitoring.estimation.live import add_cells
from mlmon.monitoring.quality.by_time import TIERS, ByEventTime, Sums, bucket_row

# The figures a bucket selector can follow: those of `Sums.figures`, and the bucket's own.
BUCKET_SIGNALS = (
    "mae", "rmse", "bias", "accuracy", "f1", "log_loss", "rows", "completeness",
    "est_mae", "est_rmse", "est_accuracy", "est_precision", "est_recall", "est_f1",
    "estimate_error",
)  # fmt: skip
State = Literal["final", "provisional"]
STATES: tuple[State, ...] = ("final", "provisional")
_SELECTOR = re.compile(
    r"^(?P<state>final|provisional)(?:_(?P<count>\d+)(?P<unit>m|h|d))?(?:_(?P<percent>\d+))?$"
)
_UNITS = {"m": 60, "h": 3_600, "d": 86_400}


@dataclass(frozen=True)
class BucketSelector:
    state: State
    width: int | None = None  # seconds; None: the buckets as they are kept
    completeness: float | None = None  # the least share of labels (provisional only)


def is_bucket_selector(text: str | None) -> bool:
    """Whether `text` reads as a bucket selector (well formed or not)."""
    return text is not None and re.match(r"^(final|provisional)(_|$)", text) is not None


def parse_selector(text: str, tiers: tuple[tuple[int, float], ...] = TIERS) -> BucketSelector:
    """A bucket selector; ValueError saying what is wrong with a malformed one."""
    match = _SELECTOR.match(text)
    if match is None:
        msg = (
            f"bucket selector {text!r} is not STATE[_WIDTH][_PERCENT], e.g. final, final_1h, "
            "provisional_80"
        )
        raise ValueError(msg)
    width = None
    if match["count"] is not None:
        width = int(match["count"]) * _UNITS[match["unit"]]
        widths = [tier[0] for tier in tiers]
        if width % widths[0] or any(width % w and w % width for w in widths):
            msg = (
                f"bucket width {match['count']}{match['unit']} does not fit the buckets kept "
                f"({', '.join(f'{w:g} s' for w in widths)}): use e.g. 15m, 1h, 1d"
            )
            raise ValueError(msg)
    completeness = None
    if match["percent"] is not None:
        percent = int(match["percent"])
        if match["state"] != "provisional" or not 0 < percent <= 100:
            msg = f"bucket selector {text!r}: only provisional takes a completeness, 1 to 100 %"
            raise ValueError(msg)
        completeness = percent / 100
    state: State = "final" if match["state"] == "final" else "provisional"
    return BucketSelector(state, width, completeness)


def widened(by_time: ByEventTime, width: int) -> list[dict[str, Any]]:
    """`by_time.buckets()` summed into buckets `width` seconds wide (exact: sums merge), oldest
    first per model; `predicted` is summed too, None if any part's is unknown."""
    kept = {
        (model, start, own): (classified, sums)
        for model, classified, start, own, sums in by_time.sums()
    }
    merged: dict[tuple[str, int, int], tuple[bool, Sums, list[Any]]] = {}
    cells: dict[tuple[str, int, int], Floats] = {}
    estimated = {model: by_time.estimated_by_bucket(model) for model in by_time.estimated}
    # buckets(), not sums(): a bucket with predictions and no label yet counts in `predicted`.
    for bucket in by_time.buckets():
        model, start, own = bucket["model"], bucket["start"], bucket["width"]
        classified, sums = kept.get((model, start, own), (False, Sums()))
        key = (model, start // width * width, width) if width % own == 0 else (model, start, own)
        was, total, parts = merged.setdefault(key, (classified, Sums(), []))
        merged[key] = (was or classified, total, parts)
        total.merge(sums)
        parts.append(bucket.get("predicted"))
        part = estimated.get(model, {}).get((start, own))
        if part is not None:
            cells[key] = add_cells(cells.get(key), part)
    out = []
    for (model, start, own), (classified, total, parts) in sorted(merged.items()):
        known = None if any(p is None for p in parts) else sum(parts)
        cell = cells.get((model, start, own))
        out.append(bucket_row(model, start, own, total, known, classified, cell))
    return out


def pick(buckets: list[dict[str, Any]], selector: BucketSelector) -> dict[str, dict[str, Any]]:
    """Per model, the latest bucket (with its `state`) the selector names, if any."""
    chosen: dict[str, dict[str, Any]] = {}
    for bucket in buckets:
        if bucket["state"] != selector.state:
            continue
        if selector.completeness is not None:
            share = bucket.get("completeness")
            if share is None or share < selector.completeness:
                continue
        best = chosen.get(bucket["model"])
        if best is None or bucket["start"] > best["start"]:
            chosen[bucket["model"]] = bucket
    return chosen
