"""Loading the model the model service predicts with.

Formats:
- `.json`: mlmon's linear model (coefficients and intercept). Safe: it is only numbers.
- `.onnx`: any ONNX model, run by onnxruntime (`onnx_model.py`). Safe: a graph, no code.
- `.skops`: a scikit-learn object saved by skops (`skops_model.py`); types skops does not
  trust by default load only when named in MLMON_SKOPS_TRUSTED.
- `.pkl`, `.pickle`, `.joblib`: any scikit-learn-style estimator. Unpickling runs arbitrary
  code, so these load only with the user's explicit consent (`--trust-pickle`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol

import numpy as np

from mlmon.arrays import Floats
from mlmon.errors import ModelLoadError, UnsafeModelError
from mlmon.model.estimator import EstimatorModel
from mlmon.model.frame import Columns, Label, Prediction, Task, numeric_matrix
from mlmon.settings import Settings, column_list

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

    @property
    def feature_names(self) -> tuple[str, ...] | None:
        """The model's feature names, in its order; None when the model does not say."""

    @property
    def task(self) -> Task | None:
        """What the model says it does; None when it cannot say (then MLMON_TASK decides)."""

    @property
    def classes(self) -> tuple[Label, ...] | None:
        """A classifier's labels, in the order of its scores' columns."""

    def predict(self, features: Floats) -> Floats:
        """Rows of numbers in the model's feature order, to one number each."""

    def predict_columns(self, columns: Columns) -> Prediction:
        """Named, typed columns (model/frame.py) to values and, for a classifier, scores."""


@dataclass(frozen=True)
class LinearModel:
    name: str
    version: str
    coef: Floats
    intercept: float
    feature_names: tuple[str, ...] | None = None

    @property
    def n_features(self) -> int:
        return int(self.coef.shape[0])

    @property
    def task(self) -> Task:
        return "regression"

    @property
    def classes(self) -> None:
        return None

    def predict(self, features: Floats) -> Floats:
        return np.asarray(features @ self.coef + self.intercept, dtype=np.float64)

    def predict_columns(self, columns: Columns) -> Prediction:
        """The named features (or, when the file names none, the columns in their order)."""
        return Prediction(self.predict(numeric_matrix(columns, self.feature_names)))

    def to_json(self, feature_names: tuple[str, ...] | None = None) -> str:
        document = {
            "format": LINEAR_FORMAT,
            "name": self.name,
            "version": self.version,
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "feature_names": list(feature_names or self.feature_names or ()),
        }
        return json.dumps(document, indent=2) + "\n"


def default_model_path() -> Path:
    return Path(str(resources.files("mlmon") / "data" / DEFAULT_MODEL))


def load_model(
    path: Path | None,
    trust_pickle: bool = False,
    name: str | None = None,
    skops_trusted: Sequence[str] = (),
) -> Predictor:
    """The model in `path` (the shipped one if None), renamed to `name` if given;
    `skops_trusted` names the types a .skops file may hold beyond skops' defaults."""
    return renamed(_load(path or default_model_path(), trust_pickle, skops_trusted), name)


def model_of(settings: Settings) -> Predictor:
    """The model the settings name (MLMON_MODEL_PATH, MLMON_MODEL_NAME, MLMON_TRUST_PICKLE,
    MLMON_SKOPS_TRUSTED), as every service loads it."""
    trusted = column_list(settings.skops_trusted)
    return load_model(settings.model_path, settings.trust_pickle, settings.model_name, trusted)


def renamed(model: Predictor, name: str | None) -> Predictor:
    """The model under another name (a challenger's), or itself when `name` is None."""
    if name is not None and dataclasses.is_dataclass(model) and not isinstance(model, type):
        renamed_model: Predictor = dataclasses.replace(model, name=name)
        return renamed_model
    return model


def _load(path: Path, trust_pickle: bool, skops_trusted: Sequence[str] = ()) -> Predictor:
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
    if suffix == ".onnx":
        from mlmon.model.onnx_model import load_onnx

        return load_onnx(path)
    if suffix == ".skops":
        from mlmon.model.skops_model import load_skops

        return load_skops(path, skops_trusted)
    if suffix in PICKLE_SUFFIXES:
        if not trust_pickle:
            msg = (
                f"{path} is a pickle: loading it runs any code its author put in it. "
                "If you trust its source, pass --trust-pickle (MLMON_TRUST_PICKLE=true). "
                "Otherwise save the same model as .onnx (skl2onnx.to_onnx) or .skops "
                "(skops.io.dump), which load without running code; a linear model also loads "
                f'from mlmon\'s linear JSON ({{"format": "{LINEAR_FORMAT}", "coef": [...], '
                '"intercept": ...}).'
            )
            raise UnsafeModelError(msg)
        return _load_pickle(path)
    msg = (
        f"model file {path}: unknown format {suffix!r} (use .onnx, .skops, .json, or .pkl/.joblib)"
    )
    raise ModelLoadError(msg)


def _load_linear(path: Path) -> LinearModel:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        _check_linear_format(path, document)
        coef = np.asarray(document["coef"], dtype=np.float64)
        intercept = float(document["intercept"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        msg = f"model file {path} is not a valid mlmon linear model: {error}"
        raise ModelLoadError(msg) from None
    if coef.ndim != 1 or coef.size == 0 or not np.isfinite(coef).all():
        msg = f"model file {path}: coef must be a non-empty list of finite numbers"
        raise ModelLoadError(msg)
    names = document.get("feature_names") or None
    if names is not None and (not isinstance(names, list) or len(names) != coef.size):
        msg = f"model file {path}: feature_names must list one name per coefficient"
        raise ModelLoadError(msg)
    return LinearModel(
        str(document.get("name", path.stem)),
        str(document.get("version", "1")),
        coef,
        intercept,
        None if names is None else tuple(str(name) for name in names),
    )


def _check_linear_format(path: Path, document: object) -> None:
    """A .json that is not mlmon's linear model (XGBoost's native JSON, say) is refused by
    name: reading its numbers as coefficients would predict nonsense without a word."""
    found = document.get("format") if isinstance(document, dict) else None
    if found == LINEAR_FORMAT:
        return
    if isinstance(document, dict) and "learner" in document:
        what = "an XGBoost model (its native JSON)"
    elif found is None:
        what = 'JSON without a "format" key'
    else:
        what = f"a model of format {found!r}"
    msg = (
        f'model file {path} is {what}, not mlmon\'s linear model ("format": '
        f"{LINEAR_FORMAT!r}). mlmon reads .json only in that format: export the model to "
        "ONNX (.onnx) or skops (.skops), or fit one with `mlmon train`."
    )
    raise ModelLoadError(msg)


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
    return EstimatorModel.loaded(path, data, estimator)


def width_problem(ids: Sequence[object], width: int, n_features: int) -> str | None:
    """Why a message's vectors do not fit the model (naming its record, or how many), if so."""
    if width == n_features:
        return None
    who = f"record {ids[0]!r}" if len(ids) == 1 else f"{len(ids)} records"
    return f"{who}: vector has {width} features, the model takes {n_features}"
