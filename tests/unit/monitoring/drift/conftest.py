"""The diabetes reference the drift tests compare streams with."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from mlmon.model.dataset import Dataset, load_dataset
from mlmon.monitoring.drift.reference import Reference
from tests.unit.monitoring.drift.streams import Matrix, Predict


@pytest.fixture(scope="module")
def diabetes() -> tuple[Dataset, Predict, Reference]:
    """The whole diabetes set as reference, with a fitted linear model's predictions."""
    data = load_dataset()
    model = LinearRegression().fit(data.features, data.target)

    def predict(rows: Matrix) -> Matrix:
        return np.asarray(model.predict(rows), dtype=np.float64)

    reference = Reference.from_data(data.features, data.feature_names, predict(data.features))
    return data, predict, reference
