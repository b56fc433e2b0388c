"""Quality by prediction time: exact figures per bucket of event time, revised as labels land.

A joined row belongs to the bucket of its event time (`sent_at`: the record's `ts`, or when it
was published), not to when its label arrived: a label that comes a day late revises
yesterday's bucket. Each bucket keeps sums, never rows: for regression the count, the sums of
|error|, error² and (y_pred - y_true); for classification the wrong rows, per class the true
positives, false positives and false negatives (macro F1), and over the rows with scores the
sum of -log p(true) (log loss). Sums merge exactly, so memory stays bounded by merging old
buckets into coarser ones: a bucket whose end lies more than a tier's `keep` behind the latest
event time seen moves into the next tier's wider bucket (TIERS: 5 minutes for a day, hours for
a week, then days). The latest event time seen, not the clock, drives the merging, so the same
rows always give the same buckets.

A bucket is *provisional* until `max_label_wait` seconds have passed since its end (labels may
still come), then *final*. Its label completeness is its labelled rows over its predictions
(`set_predicted`: the counts the metric service keeps per 5-minute bucket, labelled or not),
merged into the coarser buckets by the same rule as the sums. So are the estimated figures'
cells (`set_predicted` too: `monitoring.estimation.live`, summed per bucket by the metric
service): each bucket lists its estimated figures beside the realized ones, and how far the
estimate was from them (`estimate_error`; meaningful once the bucket is final).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.monitoring.estimation.live import add_cells, estimate_error, estimated_figures

# (width, keep): buckets `width` seconds wide while their end is within `keep` seconds of the
# latest event time; older ones merge into the next tier's.
TIERS: tuple[tuple[int, float], ...] = ((300, 86_400.0), (3_600, 7 * 86_400.0), (86_400, math.inf))
MAX_CLASSES = 1000  # per model: past it, classes count in accuracy but not in F1


@dataclass
class Sums:
    """One bucket's sums."""

    rows: int = 0
    abs_error: float = 0.0
    squared: float = 0.0
    signed: float = 0.0  # sum of y_pred - y_true
    wrong: int = 0
    scored: int = 0
    log_loss: float = 0.0
    classes: dict[float, list[int]] = field(default_factory=dict)  # code -> [tp, fp, fn]

    def merge(self, other: Sums) -> None:
        self.rows += other.rows
        self.abs_error += other.abs_error
        self.squared += other.squared
        self.signed += other.signed
        self.wrong += other.wrong
        self.scored += other.scored
        self.log_loss += other.log_loss
        for code, counts in other.classes.items():
            mine = self.classes.setdefault(code, [0, 0, 0])
            for i in range(3):
                mine[i] += counts[i]

    def figures(self, classified: bool) -> dict[str, float | None]:
        n = self.rows
        if not n:
            return {}
        if not classified:
            return {
                "mae": self.abs_error / n,
                "rmse": math.sqrt(self.squared / n),
                "bias": self.signed / n,
            }
        f1s = []
        for tp, fp, fn in self.classes.values():
            if tp + fp + fn:
                f1s.append(2 * tp / (2 * tp + fp + fn))
        return {
            "accuracy": 1 - self.wrong / n,
            "f1": sum(f1s) / len(f1s) if f1s else None,
            "log_loss": self.log_loss / self.scored if self.scored else None,
        }


def bucket_row(
    model: str,
    start: int,
    width: int,
    sums: Sums,
    predicted: int | None,
    classified: bool,
    cells: Floats | None = None,
) -> dict[str, Any]:
    """One bucket as `ByEventTime.buckets` lists it: completeness None when `predicted` is
    unknown or 0; the estimated figures when `cells` has any."""
    row: dict[str, Any] = {
        "model": model,
        "start": start,
        "width": width,
        "rows": sums.rows,
        "predicted": predicted,
        "completeness": sums.rows / predicted if predicted else None,
        **sums.figures(classified),
    }
    if cells is not None:
        row.update(estimated_figures(cells))
        row["estimate_error"] = estimate_error(row)
    return row


class ByEventTime:
    """Per model, sums per bucket of event time, in tiers of coarser buckets as they age."""

    def __init__(self, tiers: tuple[tuple[int, float], ...] = TIERS) -> None:
        self.tiers = tiers
        # model -> finest bucket start -> predictions; None: unknown (no count to read)
        self.predicted: dict[str, dict[int, int]] | None = None
        self.estimated: dict[str, dict[int, Floats]] = {}  # model -> finest start -> cells
        self.reset()

    def reset(self) -> None:
        # model -> tier index -> bucket start -> sums
        self._models: dict[str, list[dict[int, Sums]]] = {}
        self._classified: dict[str, bool] = {}
        self.latest = -math.inf  # the latest event time seen
        self.untimed = 0  # rows without an event time, in no bucket

    def add(
        self,
        model: str,
        sent_at: Floats,
        y_true: Floats,
        y_pred: Floats,
        errors: Floats,
        classified: bool,
        log_loss: Floats | None = None,
    ) -> None:
        """Take one model's joined rows: event times, values (class codes when classified),
        errors (0/1 when classified), and per row -log p(true) (NaN where a row had no scores)."""
        timed = np.isfinite(sent_at)
        self.untimed += int(np.count_nonzero(~timed))
        if not timed.all():
            sent_at, y_true, y_pred, errors = (a[timed] for a in (sent_at, y_true, y_pred, errors))
            log_loss = None if log_loss is None else log_loss[timed]
        if not len(sent_at):
            return
        self._classified[model] = self._classified.get(model, False) or classified
        tiers = self._models.setdefault(model, [{} for _ in self.tiers])
        width = self.tiers[0][0]
        starts = (np.floor(sent_at / width) * width).astype(np.int64)
        order = np.argsort(starts, kind="stable")
        starts = starts[order]
        cuts = np.flatnonzero(np.diff(starts)) + 1
        firsts = starts[np.concatenate(([0], cuts))].tolist()
        for rows, start in zip(np.split(order, cuts), firsts, strict=True):
            part = _sums(
                y_true[rows], y_pred[rows], errors[rows], classified,
                None if log_loss is None else log_loss[rows],
            )  # fmt: skip
            self._bucket(tiers, start).merge(part)
        self.latest = max(self.latest, float(sent_at.max()))
        self._age()

    def _bucket(self, tiers: list[dict[int, Sums]], start: int) -> Sums:
        """The bucket of the finest tier that still holds `start` (an old row goes into the
        coarse bucket its fine one was merged into)."""
        index, own = self._place(start)
        return tiers[index].setdefault(own, Sums())

    def _age(self) -> None:
        for tiers in self._models.values():
            for index in range(len(self.tiers) - 1):
                width, keep = self.tiers[index]
                wider = self.tiers[index + 1][0]
                for start in [s for s in tiers[index] if s + width < self.latest - keep]:
                    sums = tiers[index].pop(start)
                    tiers[index + 1].setdefault(start // wider * wider, Sums()).merge(sums)

    def set_predicted(
        self,
        predicted: dict[str, dict[int, int]] | None,
        estimated: dict[str, dict[int, Floats]] | None = None,
    ) -> None:
        """Every model's predictions per finest bucket start, as counted so far (negative
        starts: without an event time, in no bucket); None: unknown. `estimated`: their
        estimate cells summed the same way."""
        self.predicted = predicted
        self.estimated = estimated or {}
        # The counts' latest bucket moves the tiers too: the metric service merges its old
        # counts by it (`join.counts.compact`), so a merged count is never taken for a fine one.
        starts = [s for buckets in (predicted or {}).values() for s in buckets if s >= 0]
        if starts and max(starts) > self.latest:
            self.latest = float(max(starts))
            self._age()

    def buckets(self) -> list[dict[str, Any]]:
        """Every bucket of every model, oldest first: model, start, width, rows, predicted
        and completeness (None when unknown), figures. A bucket with predictions and no label
        yet is there too."""
        out = []
        for model in {**self._models, **(self.predicted or {})}:
            classified = self._classified.get(model, False)
            tiers = self._models.get(model) or [{} for _ in self.tiers]
            predicted = self._predicted_by_bucket(model)
            estimated = self.estimated_by_bucket(model)
            rows = {
                (start, self.tiers[index][0]): sums
                for index, tier in enumerate(tiers)
                for start, sums in tier.items()
            }
            for bucket in predicted:
                rows.setdefault(bucket, Sums())
            for (start, width), sums in sorted(rows.items()):
                count = None if self.predicted is None else predicted.get((start, width), 0)
                cells = estimated.get((start, width))
                out.append(bucket_row(model, start, width, sums, count, classified, cells))
        return out

    def estimated_by_bucket(self, model: str) -> dict[tuple[int, int], Floats]:
        """A model's estimate cells per (start, width) of the bucket each fine one is in now."""
        merged: dict[tuple[int, int], Floats] = {}
        for start, cells in self.estimated.get(model, {}).items():
            if start < 0:
                continue
            index, own = self._place(start)
            bucket = (own, self.tiers[index][0])
            merged[bucket] = add_cells(merged.get(bucket), cells)
        return merged

    def _predicted_by_bucket(self, model: str) -> dict[tuple[int, int], int]:
        """A model's predictions per (start, width) of the bucket each fine one is in now."""
        merged: dict[tuple[int, int], int] = {}
        for start, count in (self.predicted or {}).get(model, {}).items():
            if start < 0:  # no event time
                continue
            index, own = self._place(start)
            bucket = (own, self.tiers[index][0])
            merged[bucket] = merged.get(bucket, 0) + count
        return merged

    def _place(self, start: int) -> tuple[int, int]:
        """The finest tier that still holds `start`, and the start of its bucket there."""
        for index, (width, keep) in enumerate(self.tiers):
            own = start // width * width
            if own + width >= self.latest - keep or index == len(self.tiers) - 1:
                return index, own
        raise AssertionError  # the last tier keeps everything

    def held(self) -> int:
        """Buckets kept, over all models."""
        return sum(len(tier) for tiers in self._models.values() for tier in tiers)

    def sums(self) -> list[tuple[str, bool, int, int, Sums]]:
        """Every bucket's sums, unsorted: model, classified, start, width, sums (not copies)."""
        return [
            (model, self._classified.get(model, False), start, self.tiers[index][0], sums)
            for model, tiers in self._models.items()
            for index, tier in enumerate(tiers)
            for start, sums in tier.items()
        ]


def _sums(
    y_true: Floats,
    y_pred: Floats,
    errors: Floats,
    classified: bool,
    log_loss: Floats | None,
) -> Sums:
    sums = Sums(rows=len(errors))
    if not classified:
        sums.abs_error = float(errors.sum())
        sums.squared = float(np.square(errors).sum())
        sums.signed = float((y_pred - y_true).sum())
        return sums
    wrong = errors != 0
    sums.wrong = int(np.count_nonzero(wrong))
    if log_loss is not None:
        scored = np.isfinite(log_loss)
        sums.scored = int(np.count_nonzero(scored))
        sums.log_loss = float(log_loss[scored].sum())
    for code in np.union1d(y_true, y_pred).tolist()[:MAX_CLASSES]:
        is_true: npt.NDArray[np.bool_] = y_true == code
        is_pred: npt.NDArray[np.bool_] = y_pred == code
        sums.classes[code] = [
            int(np.count_nonzero(is_true & is_pred)),
            int(np.count_nonzero(is_pred & ~is_true)),
            int(np.count_nonzero(is_true & ~is_pred)),
        ]
    return sums
