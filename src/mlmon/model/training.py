"""`mlmon train`: fit the default diabetes regressor and save it in the safe JSON format."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlmon.model.dataset import DEFAULT_ID_COLUMN, load_dataset
from mlmon.model.predictors import LinearModel


def train_linear(
    output: Path,
    dataset: Path | None = None,
    target: str | None = None,
    name: str | None = None,
    id_column: str = DEFAULT_ID_COLUMN,
) -> LinearModel:
    from sklearn.linear_model import LinearRegression

    data = load_dataset(dataset, target, id_column)
    fitted = LinearRegression().fit(data.features, data.target)
    model = LinearModel(
        name or f"{data.name.removesuffix('.csv')}-linear",
        "1",
        np.asarray(fitted.coef_, dtype=np.float64),
        float(fitted.intercept_),
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(model.to_json(data.feature_names), encoding="utf-8")
    return model
