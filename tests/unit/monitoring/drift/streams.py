"""Streams the drift tests share: rows bootstrapped from the dataset, and a report of rows."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from mlmon.model.dataset import Dataset
from mlmon.monitoring.drift.monitor import DriftMonitor
from mlmon.monitoring.drift.reference import Reference
from mlmon.monitoring.drift.report import DriftReport

Matrix = npt.NDArray[np.float64]
Predict = Callable[[Matrix], Matrix]


def bootstrap(data: Dataset, rows: int = 1000, seed: int = 7) -> Matrix:
    """Rows drawn with replacement from the dataset (a stream with no drift)."""
    return data.features[np.random.default_rng(seed).integers(0, len(data.features), rows)]


def report_of(reference: Reference, features: Matrix, predictions: Matrix | None) -> DriftReport:
    monitor = DriftMonitor(reference, window=1000)
    monitor.add(features, predictions)
    return monitor.report()
