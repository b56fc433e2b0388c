"""`QualityTracker`: per model, the figures of its count windows, time windows and `all`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mlmon.errors import ConfigError, RecordError
from mlmon.monitoring.quality.count_window import LastCount
from mlmon.monitoring.quality.figures import (
    Mode,
    WindowFigures,
    classification_figures,
    regression_figures,
)
from mlmon.monitoring.quality.running import running_for
from mlmon.monitoring.quality.time_window import LastSeconds

ALL = "all"


class ModelWindows:
    """One model's count windows, time windows and `all`."""

    def __init__(self, counts: Sequence[int], durations: Sequence[float], mode: Mode) -> None:
        self.counts = [LastCount(size) for size in counts]
        self.durations = [LastSeconds(seconds, mode) for seconds in durations]
        self.all = running_for(mode)


class QualityTracker:
    """Per model, the quality figures of its last N records, last T seconds and all records."""

    def __init__(
        self,
        count_windows: Sequence[int] = (500,),
        time_windows: Sequence[float] = (60.0,),
        mode: Mode = "regression",
    ) -> None:
        if mode not in ("regression", "classification"):
            msg = f"mode must be 'regression' or 'classification', got {mode!r}"
            raise ConfigError(msg)
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in count_windows):
            msg = f"count windows must be whole numbers of records >= 1, got {count_windows!r}"
            raise ConfigError(msg)
        if any(not (math.isfinite(t) and t > 0) for t in time_windows):
            msg = f"time windows must be finite numbers of seconds > 0, got {time_windows!r}"
            raise ConfigError(msg)
        self.count_windows = tuple(count_windows)
        self.time_windows = tuple(float(t) for t in time_windows)
        self.mode: Mode = mode
        self.window_names = (
            *(f"last_{n}" for n in self.count_windows),
            *(f"last_{t:g}s" for t in self.time_windows),
            ALL,
        )
        if len(set(self.window_names)) != len(self.window_names):
            msg = f"a window is given twice: {self.window_names}"
            raise ConfigError(msg)
        self._models: dict[str, ModelWindows] = {}

    def __repr__(self) -> str:
        return (
            f"QualityTracker(count_windows={self.count_windows}, "
            f"time_windows={self.time_windows}, mode={self.mode!r}, models={len(self._models)})"
        )

    @property
    def models(self) -> tuple[str, ...]:
        """Every model with at least one record, sorted."""
        return tuple(sorted(self._models))

    def held(self) -> int:
        """Records kept one by one in the count and time windows of every model (24 bytes or
        so each; records folded into a busy time window's slices are not counted)."""
        return sum(
            sum(window.held for window in windows.counts)
            + sum(window.held for window in windows.durations)
            for windows in self._models.values()
        )

    def add(self, model: str, y_true: float, y_pred: float, at: float) -> None:
        """Take one record: its true value, the model's prediction and its time (seconds)."""
        y_true, y_pred, at = float(y_true), float(y_pred), float(at)
        if not (math.isfinite(y_true) and math.isfinite(y_pred) and math.isfinite(at)):
            reason = f"y_true={y_true}, y_pred={y_pred}, at={at}: every one must be finite"
            raise RecordError(model, reason)
        if self.mode == "regression" and not math.isfinite(y_pred - y_true):
            raise RecordError(model, f"y_pred - y_true overflows ({y_pred} - {y_true})")
        windows = self._windows(model)
        for last_count in windows.counts:
            last_count.add(y_true, y_pred)
        for last_seconds in windows.durations:
            last_seconds.add(y_true, y_pred, at)
        windows.all.add(y_true, y_pred)

    def add_many(
        self, model: str, y_true: npt.ArrayLike, y_pred: npt.ArrayLike, at: npt.ArrayLike
    ) -> None:
        """Take a batch of records, oldest first, as three arrays of one length."""
        true = np.asarray(y_true, dtype=np.float64).ravel()
        pred = np.asarray(y_pred, dtype=np.float64).ravel()
        times = np.asarray(at, dtype=np.float64).ravel()
        if not true.size == pred.size == times.size:
            msg = f"y_true, y_pred and at differ in length: {true.size}, {pred.size}, {times.size}"
            raise ValueError(msg)
        if true.size == 0:
            return
        finite = np.isfinite(true) & np.isfinite(pred) & np.isfinite(times)
        if self.mode == "regression":
            with np.errstate(over="ignore", invalid="ignore"):
                finite &= np.isfinite(pred - true)
        if not finite.all():
            row = int(np.argmin(finite))
            reason = (
                f"row {row} of the batch has y_true={true[row]}, y_pred={pred[row]}, "
                f"at={times[row]}: every one (and their difference) must be finite"
            )
            raise RecordError(model, reason)
        windows = self._windows(model)
        for last_count in windows.counts:
            last_count.extend(true, pred)
        for last_seconds in windows.durations:
            last_seconds.extend(true, pred, times)
        windows.all.extend(true, pred)

    def snapshot(self, now: float) -> dict[str, dict[str, WindowFigures]]:
        """Model -> window name -> figures; time windows hold the records with at > now - T."""
        figures = regression_figures if self.mode == "regression" else classification_figures
        report: dict[str, dict[str, WindowFigures]] = {}
        for model in self.models:
            windows = self._models[model]
            per_window: list[WindowFigures] = [
                figures(*last_count.values()) for last_count in windows.counts
            ]
            per_window += [last_seconds.figures(now) for last_seconds in windows.durations]
            per_window.append(windows.all.figures())
            report[model] = dict(zip(self.window_names, per_window, strict=True))
        return report

    def _windows(self, model: str) -> ModelWindows:
        windows = self._models.get(model)
        if windows is None:
            windows = ModelWindows(self.count_windows, self.time_windows, self.mode)
            self._models[model] = windows
        return windows
