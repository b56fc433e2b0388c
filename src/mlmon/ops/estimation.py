"""Estimated quality before labels, set up from the settings, and its live gauges.

`fit_estimator` fits the estimator of `monitoring.estimation` on MLMON_REFERENCE (a labelled
dataset the model was not trained on) with the model's own predictions of it: the model file
of MLMON_MODEL_PATH (or the shipped one), loaded as the model service loads it, so a model
mlmon does not run is estimated from the same file. Without a reference, or when the model,
the reference or the fit fails, estimation is off and `reason` says why (the dashboard and
`mlmon report` show it). `EstimateGauges` exports each model's estimated figures over its
latest MLMON_QUALITY_WINDOW estimated predictions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlmon.errors import MlmonError
from mlmon.model.dataset import dataset_of
from mlmon.model.predictors import model_of
from mlmon.model.records import score_keys
from mlmon.monitoring.estimation import ConfidenceEstimator, LossEstimator
from mlmon.monitoring.estimation.live import (
    CLASSIFICATION_FIGURES,
    REGRESSION_FIGURES,
    Estimated,
    EstimateWindow,
    FeatureCoder,
    LiveEstimator,
)
from mlmon.settings import Settings
from mlmon.wire.labels import label_code

log = logging.getLogger(__name__)

OFF_NO_REFERENCE = (
    "off: MLMON_REFERENCE is not set (estimation needs a labelled dataset the model was not "
    "trained on, with the MLMON_TARGET column)"
)


@dataclass(frozen=True)
class EstimatorSetup:
    """The fitted estimator, or None with the reason it is off."""

    estimator: LiveEstimator | None
    reason: str
    model: str = ""  # the predictions it estimates: the model file's (or MLMON_MODEL_NAME)


def _codes(labels: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Class labels as the wire's float codes (`wire.labels`)."""
    return np.array([label_code(str(v)) for v in np.asarray(labels).tolist()], dtype=np.float64)


def fit_estimator(settings: Settings) -> EstimatorSetup:
    """Fit on MLMON_REFERENCE with the model's predictions of it; see the module."""
    if settings.reference is None:
        return EstimatorSetup(None, OFF_NO_REFERENCE)
    try:
        data = dataset_of(settings, settings.reference)
        predictor = model_of(settings)
        prediction = predictor.predict_columns(data.columns)
        task = predictor.task or settings.task
        if task == "classification":
            if prediction.scores is None or not predictor.classes:
                return EstimatorSetup(None, "off: the model gives no class scores to calibrate")
            truth = data.target_labels if data.target_labels is not None else data.target
            classes = _codes(predictor.classes)
            confidence = ConfidenceEstimator.fit(
                _codes(truth), _codes(prediction.values), prediction.scores, classes.tolist()
            )
            names = dict(zip(score_keys(predictor.classes), classes.tolist(), strict=True))
            estimator = LiveEstimator("classification", confidence=confidence, class_names=names)
        else:
            coder = FeatureCoder.fit(data.columns)
            features = coder.columns(data.columns, len(data.target))
            loss = LossEstimator.fit(
                features, data.target, np.asarray(prediction.values, dtype=np.float64),
                categorical=coder.categorical,
            )  # fmt: skip
            estimator = LiveEstimator(
                "regression", loss=loss, coder=coder, every=settings.estimate_every
            )
    except (MlmonError, ValueError) as error:
        return EstimatorSetup(None, f"off: {error}")
    except Exception as error:  # a model library's own error: estimation off, the join goes on
        log.exception("estimation could not be fitted")
        return EstimatorSetup(None, f"off: {type(error).__name__}: {error}")
    rows = len(data.target)
    method = "CBPE" if task == "classification" else "DLE"
    reason = (
        f"on: {method} fitted on {rows:,} rows of {settings.reference.name}, "
        f"for model {predictor.name!r}"
    )
    return EstimatorSetup(estimator, reason, predictor.name)


class EstimateGauges(Collector):
    """Per model, the estimated figures of its latest estimated predictions."""

    def __init__(self, window: int) -> None:
        self.window = window
        self._lock = threading.Lock()  # prometheus-client collects from its own thread
        self._windows: dict[str, EstimateWindow] = {}

    def add(self, model: str, estimated: Estimated) -> None:
        with self._lock:
            window = self._windows.get(model)
            if window is None:
                window = self._windows[model] = EstimateWindow(self.window)
            window.add(estimated)

    def figures(self) -> dict[str, dict[str, float | None]]:
        with self._lock:
            return {model: window.figures() for model, window in self._windows.items()}

    def collect(self) -> Iterator[Metric]:
        names = (*REGRESSION_FIGURES, *CLASSIFICATION_FIGURES, "est_roc_auc")
        families = {
            name: GaugeMetricFamily(
                f"mlmon_estimated_{name.removeprefix('est_')}",
                f"estimated {name.removeprefix('est_')} of the latest "
                f"{self.window} estimated predictions (before their labels)",
                labels=["model"],
            )
            for name in names
        }
        for model, figures in sorted(self.figures().items()):
            for name, value in figures.items():
                if value is not None and name in families:
                    families[name].add_metric([model], float(value))
        yield from families.values()


def estimation_report(statuses: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The metric service's estimation state and live window figures, from its latest status
    file; None when no metric service has said."""
    latest = None
    for status in statuses:
        details = status.get("details", {}).get("estimation")
        if details and (latest is None or status.get("updated_at", 0) > latest[0]):
            latest = (status.get("updated_at", 0), details)
    return None if latest is None else dict(latest[1])


def estimation_lines(report: dict[str, Any] | None) -> list[str]:
    """`mlmon report`'s lines: the state, and each model's live estimated figures."""
    if report is None:
        return []
    lines = [f"estimated quality before labels: {report.get('state', '?')}"]
    for model, figures in sorted((report.get("window") or {}).items()):
        shown = ", ".join(
            f"{name.removeprefix('est_')} {value:.4g}"
            for name, value in figures.items()
            if value is not None
        )
        lines.append(f"  {model}, latest estimated predictions: {shown or '-'}")
    return lines
