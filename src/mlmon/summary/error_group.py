"""A group of absolute errors as the distribution charts need it: exact moments, and the errors
themselves or a uniform sample of them.

Count, mean, standard deviation, minimum and maximum are kept exactly however many rows there
are. The histogram, the density and the quantiles are drawn from `sample`: every error while
there are few enough (then they are exact too), else a uniform sample (a `Reservoir`), whose
counts are scaled by `scale` to stay on the axis of rows. The median of a sample of 250,000 is
within 0.2 % in rank of the rows' median (two standard errors: 2 * sqrt(0.25 / 250,000)), about
0.5 % in value for errors spread like a half-normal's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mlmon.arrays import Floats

POOL_SEED = 0  # pooled samples draw the same rows each time, so a picture does not flicker


@dataclass(frozen=True)
class ErrorGroup:
    """The absolute errors of one model (or several pooled): exact figures and a sample."""

    name: str
    count: int
    mean: float
    std: float  # population standard deviation, like numpy's default
    low: float
    high: float
    sample: Floats  # every error when len(sample) == count, else a uniform sample
    models: int = 1  # how many models the group pools

    @classmethod
    def of(cls, name: str, errors: Floats, models: int = 1) -> ErrorGroup:
        """The group of every error in `errors` (not empty): all figures exact."""
        return cls(
            name,
            len(errors),
            float(errors.mean()),
            float(errors.std()),
            float(errors.min()),
            float(errors.max()),
            errors,
            models,
        )

    @property
    def sampled(self) -> bool:
        """True when the sample leaves rows out, so quantiles and bars are estimates."""
        return len(self.sample) < self.count

    @property
    def scale(self) -> float:
        """Rows each sampled error stands for."""
        return self.count / len(self.sample)

    def median(self) -> float:
        return float(np.median(self.sample))

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.sample, q))

    def bar_heights(self, edges: Floats) -> Floats:
        """Rows per bin: the sample's counts times `scale` (exact counts when not sampled)."""
        counts, _ = np.histogram(self.sample, bins=edges)
        return counts * self.scale if self.sampled else counts.astype(np.float64)


def pooled(name: str, groups: Sequence[ErrorGroup]) -> ErrorGroup:
    """One group of the errors of all `groups` (at least one, none empty).

    Moments combine exactly. Samples are pooled at a common rate: each group's is thinned at
    random to count / the largest `scale` values, so every row of every group has the same
    chance of being in the pooled sample and it stays uniform; groups that are not sampled are
    simply concatenated, so the pool of exact groups is exact.
    """
    count = sum(group.count for group in groups)
    mean = sum(group.count * group.mean for group in groups) / count
    # Each group's sum of squared deviations about the pooled mean: no cancellation.
    spread = sum(group.count * (group.std**2 + (group.mean - mean) ** 2) for group in groups)
    scale = max(group.scale for group in groups)
    rng = np.random.default_rng(POOL_SEED)
    parts = []
    for group in groups:
        keep = min(len(group.sample), round(group.count / scale))
        if keep < len(group.sample):
            parts.append(rng.choice(group.sample, keep, replace=False))
        else:
            parts.append(group.sample)
    return ErrorGroup(
        name,
        count,
        mean,
        math.sqrt(spread / count),
        min(group.low for group in groups),
        max(group.high for group in groups),
        np.concatenate(parts),
        sum(group.models for group in groups),
    )
