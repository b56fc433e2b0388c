"""The live drift and data quality of one model's features, fed by the service that sees
them (the model service for its model, the metric service for one it does not run) and read
by Prometheus, the status file and the alert rules.

The service feeds it from the event loop while prometheus-client scrapes from its own
thread: the state is guarded by a lock.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlmon.arrays import Floats
from mlmon.errors import DatasetError
from mlmon.model.dataset import Dataset, dataset_of
from mlmon.model.frame import Label, Prediction, columns_from_matrix, is_categorical
from mlmon.model.predictors import Predictor
from mlmon.monitoring.data_quality import RATES, DataQuality, DataQualityReport, as_numbers
from mlmon.monitoring.drift import DriftMonitor, DriftReport, Reference
from mlmon.settings import Settings

log = logging.getLogger(__name__)

FOLD_ROWS = 8192  # vectors gathered before the monitors take them (or a report is asked for)

_DRIFT_GAUGES = {
    "psi": "Population Stability Index against the reference (numeric columns)",
    "ks_statistic": "two-sample Kolmogorov-Smirnov statistic (numeric columns)",
    "ks_pvalue": "two-sample Kolmogorov-Smirnov p-value (numeric columns)",
    "js_distance": "Jensen-Shannon distance to the reference, base 2 (categorical columns)",
    "chi2_pvalue": "chi-square p-value against the reference (categorical columns)",
    "adjusted_pvalue": "the column's p-value adjusted by Benjamini-Hochberg across columns",
}


def _monitors(
    settings: Settings,
    data: Dataset,
    names: Sequence[str],
    predictions: Any,
) -> tuple[DriftMonitor, DataQuality] | None:
    """The drift monitor and data quality of a reference's features `names`, or None (with a
    warning) when it cannot be one: no feature, a column without values, an infinite value, a
    model predicting +-inf or NaN on it."""
    numeric = [n for n in names if n in data.columns and not is_categorical(data.columns[n])]
    categorical = {n: data.columns[n] for n in names if n in data.columns and n not in numeric}
    matrix = np.column_stack([data.columns[n] for n in numeric]) if numeric else None
    try:
        if matrix is None:
            matrix = np.empty((len(data.target), 0))
        reference = Reference.from_data(matrix, numeric, predictions, categorical=categorical)
    except ValueError as error:
        log.warning("drift is off: %s", error)
        return None
    import scipy.stats  # noqa: F401 - pay its slow import now, not at the first report

    if "MLMON_KS_PVALUE_THRESHOLD" in os.environ:  # set for an older mlmon: say it is not read
        log.warning(
            "MLMON_KS_PVALUE_THRESHOLD is no longer read: a column drifts when its p-value is a "
            "Benjamini-Hochberg discovery at MLMON_DRIFT_FDR (now %g)",
            settings.drift_fdr,
        )

    window = settings.drift_window
    monitor = DriftMonitor(
        reference, window=window, psi_threshold=settings.psi_threshold, fdr=settings.drift_fdr
    )
    return monitor, DataQuality(reference, window)


# Vectors (rows in the model's feature order) and the model's predictions of them, to the
# signal prediction drift compares.
VectorSignal = Callable[[Floats, Floats], Floats | None]


def prediction_signal(
    prediction: Prediction, classes: Sequence[Label] | None = None
) -> Floats | None:
    """What prediction drift compares: the value for regression, the top class
    probability for a classifier with scores, the predicted label's code (its index in
    `classes`, NaN for a label not there) for one without, nothing when `classes` is unknown."""
    if prediction.values.dtype != object:
        return np.asarray(prediction.values, dtype=np.float64)
    if prediction.scores is not None:
        top: Floats = prediction.scores.max(axis=1)
        return top
    if classes:
        codes = {label: float(code) for code, label in enumerate(classes)}
        return np.array([codes.get(label, np.nan) for label in prediction.values.tolist()])
    return None


def _columns_signal(predictor: Predictor, names: Sequence[str]) -> VectorSignal:
    """A classifier's signal of vectors: the one of the same rows as named columns, so that
    vectors and named records compare with one reference (predict() keeps only the labels)."""

    def signal(vectors: Floats, _: Floats) -> Floats | None:
        prediction = predictor.predict_columns(columns_from_matrix(vectors, names))
        return prediction_signal(prediction, predictor.classes)

    return signal


def _predictions(vectors: Floats, predictions: Floats) -> Floats:
    """A regressor's signal of vectors: its predictions."""
    return predictions


class LiveDrift(Collector):
    """Feature and prediction drift, and data quality, of the latest rows against a reference."""

    def __init__(
        self,
        monitor: DriftMonitor,
        quality: DataQuality,
        model: str,
        named: bool = True,
        vectors: VectorSignal | None = None,
        classes: Sequence[Label] | None = None,
    ) -> None:
        self.monitor, self.quality, self.model = monitor, quality, model
        self.classes = classes  # a classifier's labels: the codes of a prediction without scores
        # Named records feed add_columns; vectors (the seeds' form) feed add, when their
        # columns are the reference's numeric features in order (`vectors` gives their signal).
        self.named = named
        self._vector_signal = vectors
        self.numeric = monitor.reference.feature_names
        self.categorical = monitor.reference.categorical_names
        self._warned_skip = False
        self.skipped = 0  # records drift or data quality could not read (the warning says why)
        self._lock = threading.Lock()
        self._report: DriftReport | None = None
        self._quality: DataQualityReport | None = None
        # Vectors not yet folded in: the monitors' numpy work costs about the same per call
        # whatever the size, and single-record messages come a few at a time.
        self._waiting: list[tuple[Floats, Floats]] = []
        self._waiting_rows = 0

    @classmethod
    def for_model(cls, settings: Settings, predictor: Predictor) -> LiveDrift | None:
        """Reference = the reference (or streamed) dataset and the model's own predictions."""
        try:
            data = dataset_of(settings, settings.reference)  # the stream's features
        except DatasetError as error:
            log.warning("drift is off: %s", error)
            return None
        if data.named or predictor.task == "classification":
            return cls._for_columns(settings, predictor, data)
        if data.features.shape[1] != predictor.n_features:
            log.warning(
                "drift is off: the reference has %d features, the model takes %d",
                data.features.shape[1],
                predictor.n_features,
            )
            return None
        made = _monitors(settings, data, data.feature_names, predictor.predict(data.features))
        return None if made is None else cls(*made, predictor.name, False, _predictions)

    @classmethod
    def _for_columns(
        cls, settings: Settings, predictor: Predictor, data: Dataset
    ) -> LiveDrift | None:
        """Drift of named records, and of numeric vectors when every feature is a number:
        their features, and the prediction's signal (the value for regression, the top class
        probability or the label's code for a classifier)."""
        names = predictor.feature_names or tuple(data.columns)
        try:
            signal = prediction_signal(
                predictor.predict_columns({name: data.columns[name] for name in names}),
                predictor.classes,
            )
        except Exception as error:
            log.warning("drift of predictions is off: the model failed on the reference: %s", error)
            signal = None
        made = _monitors(settings, data, names, signal)
        if made is None:
            return None
        # Vectors are the model's features in its order: readable only when all are numbers.
        numeric = made[0].reference.feature_names
        readable = len(names) == predictor.n_features and numeric == tuple(names)
        regression = predictor.task == "regression"  # its predictions are the signal
        signal_of = _predictions if regression else _columns_signal(predictor, names)
        vectors = signal_of if readable else None
        return cls(*made, predictor.name, vectors=vectors, classes=predictor.classes)

    @classmethod
    def for_reference(cls, settings: Settings, model: str) -> LiveDrift | None:
        """Drift of the features that predictions of a model mlmon does not run carry: the
        features of MLMON_REFERENCE (or the dataset, when one is given), without prediction
        drift (no model here to predict the reference). None without either."""
        if settings.reference is None and "dataset" not in settings.model_fields_set:
            log.warning(
                "predictions carry features but no reference is set: drift is off "
                "(MLMON_REFERENCE names a dataset of the features the model was fitted on)"
            )
            return None
        try:
            data = dataset_of(settings, settings.reference)
        except DatasetError as error:
            log.warning("drift is off: %s", error)
            return None
        made = _monitors(settings, data, tuple(data.columns), None)
        return None if made is None else cls(*made, model)

    def add_columns(
        self, columns: Mapping[str, npt.NDArray[Any]], prediction: Prediction | None = None
    ) -> None:
        """Named records the model predicted, and their prediction (for drift)."""
        if not self.named:
            return
        rows = len(next(iter(columns.values()))) if columns else 0
        try:
            matrix = np.empty((rows, len(self.numeric)))
            for j, name in enumerate(self.numeric):  # a feature not there: missing
                matrix[:, j] = (
                    as_numbers(np.asarray(columns[name]))[0] if name in columns else np.nan
                )
            categories = {name: columns[name] for name in self.categorical if name in columns}
            signal = None if prediction is None else prediction_signal(prediction, self.classes)
            with self._lock:
                if self.monitor.reference.prediction is None:
                    self.monitor.add(matrix, categories=categories)
                elif signal is not None:
                    self.monitor.add(matrix, signal, categories)
        except (KeyError, ValueError, TypeError) as error:  # a form drift cannot read: skipped
            self._skipped(error, rows)

    def add(self, features: Floats, predictions: Floats) -> None:
        """Vectors the model predicted (the seeds' form), and their predictions."""
        if self._vector_signal is None:  # vectors that cannot fit the reference: left out
            return
        with self._lock:
            self._waiting.append((features, predictions))
            self._waiting_rows += len(features)
            if self._waiting_rows >= FOLD_ROWS:
                self._fold()

    def _fold(self) -> None:
        """The waiting vectors into both monitors (the lock held)."""
        if not self._waiting:
            return
        features = np.concatenate([f for f, _ in self._waiting])
        predictions = np.concatenate([p for _, p in self._waiting])
        self._waiting, self._waiting_rows = [], 0
        self.quality.add_columns(columns_from_matrix(features, self.numeric), len(features))
        # Only the last window's rows stay in the monitor: a classifier rescores no more.
        features, predictions = (
            features[-self.monitor.window :],
            predictions[-self.monitor.window :],
        )
        if self.monitor.reference.prediction is None or self._vector_signal is None:
            self.monitor.add(features)
            return
        try:
            signal = self._vector_signal(features, predictions)
            if signal is None:
                msg = "the model gave no prediction signal for the vectors"
                raise ValueError(msg)
            self.monitor.add(features, signal)
        except Exception as error:  # the model, again on rows it took: skipped, never fatal
            self._skipped(error, len(features))

    def observe_rows(self, bodies: Sequence[Mapping[str, Any]]) -> None:
        """Records as they came, refused or not (data quality)."""
        if not self.named:  # vectors: their quality comes with add()
            return
        with self._lock:
            self.quality.add_rows(bodies)

    def observe_columns(self, columns: Mapping[str, npt.NDArray[Any]], rows: int) -> None:
        """A batch as columns, as it came (data quality)."""
        if not self.named:
            return
        try:
            with self._lock:
                self.quality.add_columns(columns, rows)
        except ValueError as error:
            self._skipped(error, rows)

    def _skipped(self, error: Exception, rows: int) -> None:
        self.skipped += rows
        if not self._warned_skip:
            self._warned_skip = True
            log.warning("drift skips records it cannot read (%r); the rest is counted", error)

    def refresh(self) -> tuple[DriftReport, DataQualityReport]:
        """Recompute both reports (a few ms); called by the service once per status interval."""
        with self._lock:
            self._fold()
            self._report = self.monitor.report()
            self._quality = self.quality.report()
            return self._report, self._quality

    def collect(self) -> Iterator[Metric]:
        report, quality = self._report, self._quality
        families = {
            name: GaugeMetricFamily(f"mlmon_drift_{name}", help_text, labels=["model", "column"])
            for name, help_text in _DRIFT_GAUGES.items()
        }
        detected = GaugeMetricFamily(
            "mlmon_drift_detected", "1 when the column drifted", labels=["model", "column"]
        )
        for column in report.columns if report else ():
            labels = [self.model, column.name]
            for name, family in families.items():
                value = getattr(column, name)
                if value is not None:
                    family.add_metric(labels, value)
            detected.add_metric(labels, 1.0 if column.drifted else 0.0)
        yield from families.values()
        yield detected
        skipped = CounterMetricFamily(
            "mlmon_drift_skipped_records",
            "records drift or data quality could not read (the service log says why)",
            labels=["model"],
        )
        skipped.add_metric([self.model], float(self.skipped))
        yield skipped
        yield from self._quality_families(quality)

    def _quality_families(self, quality: DataQualityReport | None) -> Iterator[Metric]:
        rates = {
            name: GaugeMetricFamily(
                f"mlmon_data_{name}",
                f"share of the latest records whose feature is {name[:-5].replace('_', ' ')}",
                labels=["model", "column"],
            )
            for name in RATES
        }
        changes = GaugeMetricFamily(
            "mlmon_data_schema_changes",
            "features that appeared in, or are absent from, some of the latest records",
            labels=["model"],
        )
        if quality is not None:
            for column, figures in quality.columns.items():
                for name, family in rates.items():
                    if figures[name] is not None:
                        family.add_metric([self.model, column], figures[name])
            changes.add_metric([self.model], float(len(quality.schema_changes)))
        yield from rates.values()
        yield changes
