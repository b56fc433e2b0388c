"""Running arithmetic the windows share: a compensated float sum and Chan et al.'s merge of
two sets' mean and sum of squared deviations."""

from __future__ import annotations


class Sum:
    """A float sum with Neumaier's compensation: its error stays about one rounding."""

    __slots__ = ("_carry", "_total")

    def __init__(self) -> None:
        self._total = 0.0
        self._carry = 0.0

    def add(self, value: float) -> None:
        total = self._total + value
        if abs(self._total) >= abs(value):
            self._carry += (self._total - total) + value
        else:
            self._carry += (value - total) + self._total
        self._total = total

    @property
    def value(self) -> float:
        return self._total + self._carry


def merged_moments(
    count: int,
    mean: float,
    deviations: float,
    other_count: int,
    other_mean: float,
    other_deviations: float,
) -> tuple[float, float]:
    """The mean and the sum of squared deviations from it of two sets of values taken
    together, from each set's count, mean and such sum (Chan et al.'s pairwise update: no
    cancellation, unlike sums of squares). `count + other_count` must be positive."""
    total = count + other_count
    delta = other_mean - mean
    return (
        mean + delta * other_count / total,
        deviations + (other_deviations + delta * delta * count * other_count / total),
    )
