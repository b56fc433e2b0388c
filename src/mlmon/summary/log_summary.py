"""What the plot and the dashboard show of a metric log, kept up to date block by block.

A `MetricLogReader` hands each poll's new rows to a `LogSummary` and tells it when the log was
replaced or cut back (it then starts over). Nothing here grows with the log; per model it keeps:

- exact running figures: rows, sums of errors and of their squares (MAE, RMSE), mean and sum
  of squared deviations merged batch by batch (Chan et al.; a std without cancellation),
  minimum, maximum, and the sum and count of y_pred - y_true (bias);
- a uniform sample of at most `sample_size` errors (`Reservoir`; all of them until then), for
  the median, p90, histogram and density: exact while the model has at most that many rows;
- its latest SCATTER_POINTS (y_true, y_pred) pairs;
- the over-time series' slot sums (`OverTime`: about 120 slots per axis, and it keeps both the
  time axis and the row axis: ~240 at most).

At the default SAMPLE_ROWS that is about 2 MB per model once its sample is full (a sample
starts small and grows with the model's rows), whatever the log's length, for at most
TRACKED_MODELS + 1 models (the reader counts names past them as one group): nothing grows
with the log.
"""

from __future__ import annotations

import math

import numpy as np

from mlmon.arrays import Floats, rows_by_model
from mlmon.metric_log.cells import is_label_code
from mlmon.metric_log.reader import RowBlock
from mlmon.monitoring.quality import merged_moments
from mlmon.summary.error_group import ErrorGroup
from mlmon.summary.over_time import TIME_BUCKETS, OverTime
from mlmon.summary.reservoir import Reservoir

SAMPLE_ROWS = 250_000  # errors sampled per model (8 bytes each); exact figures below this
SCATTER_POINTS = 400  # latest (y_true, y_pred) pairs kept per model


class ModelFigures:
    """One model's running figures (see the module's docstring)."""

    def __init__(self, sample: Reservoir, pairs: int = SCATTER_POINTS) -> None:
        self.count = 0
        self.total = 0.0  # sum of the errors
        self.squares = 0.0  # sum of their squares
        self._mean = 0.0
        self._deviations = 0.0  # sum of squared deviations from the mean
        self.low, self.high = math.inf, -math.inf
        self._bias_total = 0.0
        self._bias_rows = 0  # rows with both values (a NaN in either leaves a row out)
        self.sample = sample
        self._pairs = pairs
        self.y_true: Floats = np.empty(0)
        self.y_pred: Floats = np.empty(0)

    def __repr__(self) -> str:
        return f"ModelFigures(count={self.count}, mae={self.mae:.6g}, sample={self.sample!r})"

    @property
    def mae(self) -> float:
        return self.total / self.count if self.count else math.nan

    @property
    def rmse(self) -> float:
        return math.sqrt(self.squares / self.count) if self.count else math.nan

    @property
    def std(self) -> float:
        return math.sqrt(self._deviations / self.count) if self.count else math.nan

    @property
    def bias(self) -> float:
        """Mean of y_pred - y_true over the rows that have both; NaN when none has."""
        return self._bias_total / self._bias_rows if self._bias_rows else math.nan

    @property
    def nbytes(self) -> int:
        return self.sample.nbytes + self.y_true.nbytes + self.y_pred.nbytes

    def add(self, errors: Floats, y_true: Floats, y_pred: Floats) -> None:
        """Take a block of this model's rows (at least one), in log order."""
        rows = len(errors)
        mean = float(errors.mean())
        deviations = float(np.square(errors - mean).sum())
        self._mean, self._deviations = merged_moments(
            self.count, self._mean, self._deviations, rows, mean, deviations
        )
        self.count += rows
        self.total += float(errors.sum())
        # np.square, not np.dot: np.dot's BLAS threads make it slower on these blocks.
        self.squares += float(np.square(errors).sum())
        self.low = min(self.low, float(errors.min()))
        self.high = max(self.high, float(errors.max()))
        bias = y_pred - y_true
        known = ~np.isnan(bias)
        self._bias_total += float(bias[known].sum())
        self._bias_rows += int(np.count_nonzero(known))
        self.sample.add(errors)
        # Copies, so the block's arrays are not kept alive by a slice of them.
        self.y_true = np.concatenate([self.y_true, y_true[-self._pairs :]])[-self._pairs :]
        self.y_pred = np.concatenate([self.y_pred, y_pred[-self._pairs :]])[-self._pairs :]

    def error_group(self, name: str) -> ErrorGroup:
        """The model's errors as the distribution charts take them."""
        return ErrorGroup(
            name, self.count, self.mae, self.std, self.low, self.high, self.sample.values()
        )


class LogSummary:
    """A `RowSink` keeping, per model, what the plot and the dashboard show (see above)."""

    COLUMNS = ("y_true", "y_pred", "joined_at")  # for the bias, the scatter and over time

    def __init__(self, sample_size: int = SAMPLE_ROWS, seed: int = 0) -> None:
        self.sample_size = sample_size
        self._seed = seed
        self.reset()

    def __repr__(self) -> str:
        return f"LogSummary(rows={self.rows}, models={self.names}, nbytes={self.nbytes})"

    def reset(self) -> None:
        self.names: tuple[str, ...] = ()
        self.models: list[ModelFigures] = []  # by model code, as in `names`
        self.over_time = OverTime(TIME_BUCKETS)
        self._rng = np.random.default_rng(self._seed)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.COLUMNS

    @property
    def rows(self) -> int:
        return self.over_time.rows

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays held (the figures themselves are a few floats per model)."""
        return sum(model.nbytes for model in self.models) + self.over_time.nbytes

    def add(self, block: RowBlock) -> None:
        self.names = block.names
        while len(self.models) < len(self.names):
            self.models.append(ModelFigures(Reservoir(self.sample_size, self._rng)))
        if not len(block):
            return
        errors, codes = block.errors, block.codes
        y_true, y_pred = _numbers(block.column("y_true")), _numbers(block.column("y_pred"))
        split = list(rows_by_model(codes))
        for code, rows in split:
            self.models[code].add(errors[rows], y_true[rows], y_pred[rows])
        self.over_time.add(errors, split, block.column("joined_at"))

    def named(self) -> list[tuple[str, ModelFigures]]:
        """(name, figures) of each model with rows, in order of first appearance."""
        pairs = zip(self.names, self.models, strict=True)
        return [(name, model) for name, model in pairs if model.count]

    def error_groups(self) -> list[ErrorGroup]:
        """One group per model with rows, in order of first appearance."""
        return [model.error_group(name) for name, model in self.named()]


def _numbers(values: Floats) -> Floats:
    """A label column with text labels' codes as NaN: a code is no value to take a bias of or
    to draw (they were NaN before the reader read text labels)."""
    coded = is_label_code(values)
    return np.where(coded, np.nan, values) if coded.any() else values
