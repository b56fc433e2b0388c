"""Checks of the arrays an estimator is given, so a user's mistake is an `EstimationError`
naming it rather than a traceback from deep inside scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.errors import EstimationError
from mlmon.monitoring.quality.classes import label_name

# Fewer labelled rows than this cannot calibrate scores or fit a loss model worth trusting:
# isotonic regression and the gradient-boosted trees' 20-row leaves need a few hundred.
MIN_REFERENCE_ROWS = 100


def column(values: npt.ArrayLike, name: str, rows: int | None = None) -> Floats:
    """`values` as a 1-d float64 array of `rows` values with no NaN or infinity."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise EstimationError(f"{name} must be one value per row, got shape {array.shape}")
    if rows is not None and len(array) != rows:
        raise EstimationError(f"{name} has {len(array)} rows, expected {rows}")
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise EstimationError(f"{name} has {bad} NaN or infinite value(s)")
    return array


def enough_reference(rows: int) -> None:
    if rows < MIN_REFERENCE_ROWS:
        raise EstimationError(
            f"the reference has {rows} labelled rows; at least {MIN_REFERENCE_ROWS} are needed"
        )


def score_matrix(scores: npt.ArrayLike, classes: Sequence[float], rows: int) -> Floats:
    """`scores` as a rows x classes float64 matrix of finite, non-negative values."""
    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape != (rows, len(classes)):
        raise EstimationError(
            f"scores must be {rows} rows x {len(classes)} classes, got shape {matrix.shape}"
        )
    bad = int(np.count_nonzero(~np.isfinite(matrix).all(axis=1)))
    if bad:
        raise EstimationError(f"scores of {bad} row(s) hold NaN or infinity (no scores given)")
    if bool((matrix < 0).any()):
        raise EstimationError("scores must be probabilities, got a negative score")
    return matrix


def distinct_classes(classes: Sequence[float]) -> tuple[float, ...]:
    labels = tuple(float(c) for c in classes)
    if len(set(labels)) != len(labels):
        raise EstimationError(f"classes repeat a label: {[label_name(c) for c in labels]}")
    if len(labels) < 2:
        raise EstimationError(f"scores name {len(labels)} class(es); estimating needs at least 2")
    return labels


def positions(labels: Floats, classes: Sequence[float]) -> npt.NDArray[np.intp]:
    """Each label's column among `classes`, -1 for a label outside them."""
    order = np.argsort(np.asarray(classes))
    ordered = np.asarray(classes)[order]
    found = np.clip(np.searchsorted(ordered, labels), 0, len(ordered) - 1)
    result: npt.NDArray[np.intp] = np.where(ordered[found] == labels, order[found], -1)
    return result


def known_positions(labels: Floats, classes: Sequence[float], name: str) -> npt.NDArray[np.intp]:
    """Each label's column among `classes`; a label outside them is an error naming it."""
    found = positions(labels, classes)
    unknown = found < 0
    if bool(unknown.any()):
        names = sorted({label_name(c) for c in labels[unknown][:20]})
        raise EstimationError(f"{name} holds classes the scores do not name: {names}")
    return found
