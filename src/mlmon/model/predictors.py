"""Loading the model the model service predicts with.

Formats:
- `.json`: mlmon's linear model (coefficients and intercept). Safe: it is only numbers.
- `.pkl`, `.pickle`, `.joblib`: any scikit-learn-style estimator. Unpickling runs arbitrary
  code, so these load only with the user's explicit consent (`--trust-pickle`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import pickle
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mlmon.arrays import Floats
from mlmon.errors import ModelLoadError, UnsafeModelError

log = logging.getLogger(__name__)

LINEAR_FORMAT = "mlmon-linear/1"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
DEFAULT_MODEL = "diabetes_linear.json"


class Predictor(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def n_features(self) -> int: ...

    def predict(self, features: Floats) -> Floats: ...


@dataclass(frozen=True)
class LinearModel:
    name: str
    version: str
    coef: Floats
    intercept: float

    @property
    def n_features(self) -> int:
        return int(self.coef.shape[0])

    def predict(self, features: Floats) -> Floats:
        return np.asarray(features @ self.coef + self.intercept, dtype=np.float64)

    def to_json(self, feature_names: tuple[str, ...] = ()) -> str:
        document = {
            "format": LINEAR_FORMAT,
            "name": self.name,
            "version": self.version,
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "feature_names": list(feature_names),
        }
        return json.dumps(document, indent=2) + "\n"


@dataclass(frozen=True)
class EstimatorModel:
    """A trusted scikit-learn-style estimator loaded from a pickle."""

    name: str
    version: str
    n_features: int
    estimator: Any

    def predict(self, features: Floats) -> Floats:
        return np.asarray(self.estimator.predict(features), dtype=np.float64).reshape(-1)


def default_model_path() -> Path:
    return Path(str(resources.files("mlmon") / "data" / DEFAULT_MODEL))


def load_model(path: Path | None, trust_pickle: bool = False, name: str | None = None) -> Predictor:
    """The model in `path` (the shipped one if None), renamed to `name` if given."""
    return renamed(_load(path or default_model_path(), trust_pickle), name)


def renamed(model: Predictor, name: str | None) -> Predictor:
    """The model under another name (a challenger's), or itself when `name` is None."""
    if name is not None and isinstance(model, LinearModel | EstimatorModel):
        return dataclasses.replace(model, name=name)
    return model


def _load(path: Path, trust_pickle: bool) -> Predictor:
    if path.is_dir():
        msg = (
            f"model {path} is a directory, not a model file: point --model (MLMON_MODEL_PATH) "
            "at the file inside it, e.g. its model.pkl (with --trust-pickle) or an mlmon "
            "linear .json"
        )
        raise ModelLoadError(msg)
    if not path.is_file():
        msg = f"model file {path} does not exist (MLMON_MODEL_PATH / --model)"
        raise ModelLoadError(msg)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _load_linear(path)
    if suffix in PICKLE_SUFFIXES:
        if not trust_pickle:
            msg = (
                f"{path} is a pickle: loading it runs any code its author put in it. "
                "If you trust its source, pass --trust-pickle (MLMON_TRUST_PICKLE=true). "
                f"Otherwise, for a linear model, export its coefficients and intercept to "
                f'mlmon\'s linear JSON ({{"format": "{LINEAR_FORMAT}", "coef": [...], '
                '"intercept": ...}) and pass that file; other model types load only from a '
                "trusted pickle for now."
            )
            raise UnsafeModelError(msg)
        return _load_pickle(path)
    msg = f"model file {path}: unknown format {suffix!r} (use .json, or .pkl/.joblib)"
    raise ModelLoadError(msg)


def _load_linear(path: Path) -> LinearModel:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != LINEAR_FORMAT:
            msg = f"format is {document.get('format')!r}, expected {LINEAR_FORMAT!r}"
            raise ValueError(msg)
        coef = np.asarray(document["coef"], dtype=np.float64)
        intercept = float(document["intercept"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        msg = f"model file {path} is not a valid mlmon linear model: {error}"
        raise ModelLoadError(msg) from None
    if coef.ndim != 1 or coef.size == 0 or not np.isfinite(coef).all():
        msg = f"model file {path}: coef must be a non-empty list of finite numbers"
        raise ModelLoadError(msg)
    return LinearModel(
        str(document.get("name", path.stem)), str(document.get("version", "1")), coef, intercept
    )


def _load_pickle(path: Path) -> EstimatorModel:
    data = path.read_bytes()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if path.suffix.lower() == ".joblib":
                import joblib

                estimator = joblib.load(path)
            else:
                estimator = pickle.loads(data)  # noqa: S301 - the user passed --trust-pickle
        except Exception as error:
            msg = f"model file {path} could not be unpickled: {error!r}"
            raise ModelLoadError(msg) from None
    for warning in caught:
        log.warning("loading %s: %s", path.name, str(warning.message).splitlines()[0])
    if not callable(getattr(estimator, "predict", None)):
        msg = f"model file {path} holds a {type(estimator).__name__}, which has no predict()"
        raise ModelLoadError(msg)
    n_features = getattr(estimator, "n_features_in_", None)
    if not isinstance(n_features, int | np.integer):
        msg = f"model file {path}: the estimator does not say how many features it takes"
        raise ModelLoadError(msg)
    version = hashlib.sha256(data).hexdigest()[:12]
    return EstimatorModel(path.stem, version, int(n_features), estimator)


def width_problem(ids: Sequence[object], width: int, n_features: int) -> str | None:
    """Why a message's vectors do not fit the model (naming its record, or how many), if so."""
    if width == n_features:
        return None
    who = f"record {ids[0]!r}" if len(ids) == 1 else f"{len(ids)} records"
    return f"{who}: vector has {width} features, the model takes {n_features}"
