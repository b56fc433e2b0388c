"""The scikit-learn pipeline `mlmon train` fits, and its two safe file formats.

Numeric columns: mean imputation. Categorical columns: most-frequent imputation, then one-hot
encoding that ignores categories unseen in training. Then histogram gradient boosting, which
needs no scaling. For ONNX, a missing category is the empty string (ONNX string tensors cannot
hold a missing value, and skl2onnx's string imputer replaces a sentinel string).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

ModelFormat = Literal["skops", "onnx"]
# skl2onnx 1.20 writes Python booleans into tree nodes' integer attributes; protobuf 6 warns
# (protobuf 7 refuses, hence its bound in pyproject.toml). The values are right: 0 and 1.
BOOLEAN_ATTRIBUTE_WARNING = r".*Expected an int, got a boolean"
MISSING_CATEGORY = ""  # what mlmon's ONNX models take for a missing category (frame.strings)


Estimator = Literal["boosting", "linear"]


def build_pipeline(
    numeric: Sequence[str],
    categorical: Sequence[str],
    classifier: bool,
    model_format: ModelFormat,
    estimator: Estimator = "boosting",
) -> Any:
    """Imputation, one-hot categories, and gradient boosting, or (`linear`) standardised
    numbers and a logistic or ridge regression: a model ~10 times cheaper to run."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    missing: Any = MISSING_CATEGORY if model_format == "onnx" else np.nan
    steps: list[tuple[str, Any, list[str]]] = []
    if numeric:
        impute = SimpleImputer(strategy="mean")
        numbers = make_pipeline(impute, StandardScaler()) if estimator == "linear" else impute
        steps.append(("numeric", numbers, list(numeric)))
    if categorical:
        encode = make_pipeline(
            SimpleImputer(missing_values=missing, strategy="most_frequent"),
            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
        )
        steps.append(("categorical", encode, list(categorical)))
    if estimator == "linear":
        model: Any = LogisticRegression(max_iter=1000) if classifier else Ridge()
    else:
        booster = HistGradientBoostingClassifier if classifier else HistGradientBoostingRegressor
        model = booster(random_state=0)
    return Pipeline([("prepare", ColumnTransformer(steps, sparse_threshold=0.0)), ("model", model)])


def write_skops(pipeline: Any, output: Path) -> list[str]:
    """Save with skops; the types a loader must be told to trust (MLMON_SKOPS_TRUSTED)."""
    import skops.io

    skops.io.dump(pipeline, output)
    return list(skops.io.get_untrusted_types(file=output))


def write_onnx(
    pipeline: Any, output: Path, numeric: Sequence[str], categorical: Sequence[str]
) -> None:
    """Convert with skl2onnx: one typed input per column, in the pipeline's column order;
    a classifier's probabilities as one float tensor (no ZipMap) in the order of its classes."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    kinds = {name: FloatTensorType([None, 1]) for name in numeric}
    kinds.update({name: StringTensorType([None, 1]) for name in categorical})
    inputs = [(str(name), kinds[name]) for name in pipeline.feature_names_in_]
    options = {id(pipeline): {"zipmap": False}} if hasattr(pipeline, "classes_") else None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", BOOLEAN_ATTRIBUTE_WARNING, DeprecationWarning)
        model = to_onnx(pipeline, initial_types=inputs, options=options)
    output.write_bytes(model.SerializeToString())
