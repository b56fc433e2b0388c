"""Small tables with numeric, categorical and missing values, and models fitted on them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

ROWS = 400


@pytest.fixture(scope="session")
def table() -> dict[str, Any]:
    """Columns as mlmon passes them (float64 with NaN; object arrays of str or None), the
    same as a pandas DataFrame for scikit-learn (missing category: the empty string, as
    skl2onnx's string imputer needs), a regression target and a three-class target."""
    import pandas as pd

    rng = np.random.default_rng(7)
    length = rng.normal(45, 5, ROWS)
    depth = rng.normal(17, 2, ROWS)
    island = rng.choice(np.array(["Biscoe", "Dream", "Torgersen"], dtype=object), ROWS)
    y = 3 * length - 2 * depth + np.where(island == "Dream", 10.0, 0.0) + rng.normal(0, 1, ROWS)
    species = np.where(length > 47, "Gentoo", np.where(island == "Dream", "Chinstrap", "Adelie"))
    length[::9] = np.nan
    island[::11] = None
    columns = {"length": length, "depth": depth, "island": island}
    frame = pd.DataFrame(
        {
            "length": length,
            "depth": depth,
            "island": ["" if value is None else value for value in island],
        }
    )
    return {"columns": columns, "frame": frame, "y": y, "species": species.astype(object)}


def user_pipeline(classifier: bool, missing_category: Any = "") -> Any:
    """A pipeline as a team writes it: columns selected by name, imputed, one-hot encoded."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    prepare = ColumnTransformer(
        [
            ("numbers", SimpleImputer(strategy="median"), ["length", "depth"]),
            (
                "island",
                make_pipeline(
                    SimpleImputer(missing_values=missing_category, strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                ["island"],
            ),
        ],
        sparse_threshold=0.0,
    )
    booster = HistGradientBoostingClassifier if classifier else HistGradientBoostingRegressor
    return Pipeline([("prepare", prepare), ("model", booster(max_iter=30, random_state=0))])
