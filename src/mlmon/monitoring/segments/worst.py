"""Each segment's quality with a confidence interval, and the segments worse than the rest of
their model.

Figures: a regression segment's MAE with a Student t interval for the mean of its absolute
errors; a classifier's (its errors are 0 or 1) accuracy with a Wilson score interval.

The rule for the worst segments: among one model's segments with at least MIN_SEGMENT_ROWS
rows (and as many outside them), a segment is listed when a one-sided test says its mean error
is above that of the rest of the model (its rows not in the segment) at level
FAMILY_ALPHA / m, m being the number of segments tested (Bonferroni): Welch's t test on the
absolute errors, or the two-proportion z test on a classifier's errors. So with no segment
worse than the rest, the table is empty with probability at least 1 - FAMILY_ALPHA, however
many segments there are. Listed segments are ranked by how much worse than the model overall
they are: their mean error over the model's, minus one (`worse_by`: +1.0 is twice the MAE,
or twice the error rate).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from mlmon.monitoring.segments.counts import SegmentTable, Stats

FAMILY_ALPHA = 0.01  # chance of listing any segment when none is worse, per model
MIN_SEGMENT_ROWS = 30  # rows before a segment is tested (and rows outside it)
CONFIDENCE = 0.95  # of the intervals shown


@dataclass(frozen=True)
class SegmentQuality:
    """One segment's figures: `value_of` is "mae" or "accuracy", `figure` it, with its
    interval; `mean_error` and `rest_error` the mean error in and outside the segment."""

    key: str
    value: str
    count: int
    value_of: str
    figure: float
    low: float
    high: float
    mean_error: float
    rest_error: float
    model_error: float
    worse_by: float  # mean_error / model_error - 1
    p_value: float  # one-sided, uncorrected; NaN when not tested (too few rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            name: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for name, v in asdict(self).items()
        }


def segment_qualities(
    table: SegmentTable, classification: bool, confidence: float = CONFIDENCE
) -> list[SegmentQuality]:
    """Every segment of the table, key by key, with its figure and interval."""
    special = distributions()

    overall = table.overall
    found = []
    for key, value, stats in table.segments():
        rest = overall.minus(stats)
        if classification:
            figure = 1.0 - stats.mean
            low, high = wilson(stats.count - stats.total, stats.count, confidence, special)
        else:
            figure = stats.mean
            low, high = t_interval(stats, confidence, special)
        tested = stats.count >= MIN_SEGMENT_ROWS and rest.count >= MIN_SEGMENT_ROWS
        p_value = (
            (
                proportion_p(stats, rest, special)
                if classification
                else welch_p(stats, rest, special)
            )
            if tested
            else math.nan
        )
        model_error = overall.mean
        worse_by = stats.mean / model_error - 1.0 if model_error > 0 else math.nan
        found.append(
            SegmentQuality(
                key, value, stats.count, "accuracy" if classification else "mae", figure, low,
                high, stats.mean, rest.mean, model_error, worse_by, p_value,
            )
        )  # fmt: skip
    return found


def worst_segments(
    qualities: Iterable[SegmentQuality], alpha: float = FAMILY_ALPHA
) -> list[SegmentQuality]:
    """The segments worse than the rest of their model by the module's rule, worst first."""
    tested = [quality for quality in qualities if not math.isnan(quality.p_value)]
    if not tested:
        return []
    level = alpha / len(tested)
    listed = [quality for quality in tested if quality.p_value < level]
    return sorted(listed, key=lambda quality: (-quality.worse_by, quality.key, quality.value))


def distributions() -> Any:
    """scipy.special's t and normal distribution functions, imported on first use: scipy.stats
    takes seconds to import, these a fraction of it; a caller holding a lock calls this first."""
    from scipy import special

    return special


def t_interval(stats: Stats, confidence: float, special: Any) -> tuple[float, float]:
    """Student's t interval for the mean (NaN below two rows)."""
    if stats.count < 2:
        return math.nan, math.nan
    half = float(special.stdtrit(stats.count - 1, 0.5 + confidence / 2)) * math.sqrt(
        stats.variance / stats.count
    )
    return stats.mean - half, stats.mean + half


def wilson(successes: float, n: int, confidence: float, special: Any) -> tuple[float, float]:
    """Wilson's score interval for a proportion (Wilson, 1927)."""
    if n == 0:
        return math.nan, math.nan
    z = float(special.ndtri(0.5 + confidence / 2))
    p = min(max(successes / n, 0.0), 1.0)  # errors that are not all 0/1 must not raise
    denominator = 1.0 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


def welch_p(segment: Stats, rest: Stats, special: Any) -> float:
    """One-sided p-value of Welch's t test that the segment's mean exceeds the rest's."""
    a, b = segment.variance / segment.count, rest.variance / rest.count
    difference = segment.mean - rest.mean
    if a + b <= 0:
        return 0.0 if difference > 0 else 1.0
    dof = (a + b) ** 2 / (a * a / (segment.count - 1) + b * b / (rest.count - 1))
    return float(special.stdtr(dof, -difference / math.sqrt(a + b)))  # the upper tail


def proportion_p(segment: Stats, rest: Stats, special: Any) -> float:
    """One-sided p-value of the pooled two-proportion z test that the segment's error rate
    exceeds the rest's."""
    pooled = (segment.total + rest.total) / (segment.count + rest.count)
    spread = pooled * (1 - pooled) * (1 / segment.count + 1 / rest.count)
    difference = segment.mean - rest.mean
    if spread <= 0:
        return 0.0 if difference > 0 else 1.0
    return float(special.ndtr(-difference / math.sqrt(spread)))  # the upper tail
