"""Quality of a model's predictions over sliding windows, updated per record (no I/O, no clock).

A `QualityTracker` keeps, per model and per window, the figures a dashboard shows: for
regression the count, MAE, RMSE, MAPE, R², bias and absolute-error quantiles; for classification
the accuracy, macro precision / recall / F1 and the confusion matrix. Windows, all at once:

- `last_N`: the model's last N records, in the order they were added;
- `last_Ts`: the model's records with `at > now - T`, where `now` is the snapshot's time;
- `all`: every record since the tracker started.

Callers pass every timestamp, so nothing here reads a clock. `add` and `add_many` cost O(1)
amortised per record: a count window writes into a ring buffer, a time window appends to a queue
of numpy chunks and drops expired chunks from its head, and `all` folds each record into
compensated running sums and a `LogHistogram` of absolute errors. Memory is bounded by the window
sizes (plus 256 buffered records per time window) and the fixed histogram, per model; a time
window keeps at most WINDOW_RECORDS records one by one and folds older ones into running figures
per 1/60 of the window, which leave whole (see `LastSeconds`).
`snapshot` computes the count and time windows' figures from the records they hold, exactly
(numpy, O(window)), as their quantiles need those records anyway; running sums would drift as
records leave. Except a busy time window, once it has folded records: its figures are then
those of the records in the window plus those of the slices that reach into it (up to 1/60 of
the window past its edge), with sketched quantiles. Time windows expect `at` to rise per
model, as join times do; a record that comes out of order is still counted by `at`, but may be
held until those before it expire.

One module per concept:

- `tracker`: `QualityTracker`, the entry point, and each model's set of windows;
- `figures`: one window's figures and their exact computation from its records;
- `classes`: per-class figures of a confusion matrix, and class labels by name;
- `scores`: a classifier's score figures (log loss, Brier, OvR ROC AUC, ECE), exactly;
- `count_window`: `last_N`, a ring buffer;
- `time_window`: `last_Ts`, numpy chunks and folded slices;
- `running`: running figures of records not kept (`all`, folded slices);
- `moments`: a compensated sum and the merge of two sets' moments;
- `sketch`: `LogHistogram`, streaming quantiles within a relative bound.
"""

from mlmon.monitoring.quality.figures import (
    MAPE_EPS,
    QUANTILES,
    ClassificationFigures,
    RegressionFigures,
    classification_figures,
    regression_figures,
)
from mlmon.monitoring.quality.moments import merged_moments
from mlmon.monitoring.quality.sketch import (
    SKETCH_HIGH,
    SKETCH_LOW,
    SKETCH_RELATIVE_ERROR,
    LogHistogram,
)
from mlmon.monitoring.quality.time_window import WINDOW_SLICES
from mlmon.monitoring.quality.tracker import QualityTracker

__all__ = [
    "MAPE_EPS",
    "QUANTILES",
    "SKETCH_HIGH",
    "SKETCH_LOW",
    "SKETCH_RELATIVE_ERROR",
    "WINDOW_SLICES",
    "ClassificationFigures",
    "LogHistogram",
    "QualityTracker",
    "RegressionFigures",
    "classification_figures",
    "merged_moments",
    "regression_figures",
]
