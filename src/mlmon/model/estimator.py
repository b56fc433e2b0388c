"""A scikit-learn-style estimator (from a trusted pickle or a `.skops` file) as a predictor.

An estimator fitted on a DataFrame knows its feature names (`feature_names_in_`) and gets its
columns as a DataFrame; one fitted on a plain matrix gets the numeric columns in the order
given. Classifiers say so (`is_classifier`) and give their classes and probabilities.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlmon.arrays import Floats
from mlmon.errors import ModelLoadError
from mlmon.model.frame import (
    Columns,
    ColumnsError,
    Label,
    Prediction,
    Task,
    class_tuple,
    columns_from_matrix,
    labels,
    numeric_matrix,
    to_dataframe,
)


@dataclass(frozen=True)
class EstimatorModel:
    """A trusted scikit-learn-style estimator."""

    name: str
    version: str
    n_features: int
    estimator: Any

    @classmethod
    def loaded(cls, path: Path, data: bytes, estimator: Any) -> EstimatorModel:
        """An estimator read from the file at `path` (its bytes `data`, whose hash is the
        version), or a ModelLoadError naming what it lacks."""
        if not callable(getattr(estimator, "predict", None)):
            msg = f"model file {path} holds a {type(estimator).__name__}, which has no predict()"
            raise ModelLoadError(msg)
        n_features = getattr(estimator, "n_features_in_", None)
        if not isinstance(n_features, int | np.integer):
            msg = f"model file {path}: the estimator does not say how many features it takes"
            raise ModelLoadError(msg)
        version = hashlib.sha256(data).hexdigest()[:12]
        return cls(path.stem, version, int(n_features), estimator)

    @property
    def feature_names(self) -> tuple[str, ...] | None:
        names = getattr(self.estimator, "feature_names_in_", None)
        return None if names is None else tuple(str(name) for name in names)

    @property
    def task(self) -> Task | None:
        from sklearn.base import is_classifier, is_regressor

        try:
            if is_classifier(self.estimator):
                return "classification"
            if is_regressor(self.estimator):
                return "regression"
        except Exception:  # noqa: S110 - an estimator too old or odd to say: no task
            pass
        return None

    @property
    def classes(self) -> tuple[Label, ...] | None:
        classes = getattr(self.estimator, "classes_", None)
        return None if classes is None else class_tuple(classes)

    def predict(self, features: Floats) -> Floats:
        if self.feature_names is not None:
            values = self.predict_columns(columns_from_matrix(features, self.feature_names))
            predicted: Any = values.values
        else:
            predicted = self.estimator.predict(features)
        try:
            return np.asarray(predicted, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            msg = f"model {self.name} predicts class labels; they are not numbers"
            raise ColumnsError(msg) from None

    def predict_columns(self, columns: Columns) -> Prediction:
        names = self.feature_names
        frame: Any = numeric_matrix(columns) if names is None else to_dataframe(columns, names)
        if frame.shape[1] != self.n_features:
            msg = f"model {self.name} takes {self.n_features} features, got {frame.shape[1]}"
            raise ColumnsError(msg)
        if self.task != "classification":
            return Prediction(np.asarray(self.estimator.predict(frame), dtype=np.float64))
        scores = None
        if callable(getattr(self.estimator, "predict_proba", None)):
            scores = np.asarray(self.estimator.predict_proba(frame), dtype=np.float64)
        return Prediction(labels(self.estimator.predict(frame)), scores)
