"""Data and prediction drift: the last rows of the stream compared with a reference sample.

A `Reference` summarises, per feature and for the model's predictions, the data the model was
trained or validated on: quantile bin edges and proportions for the Population Stability Index
(PSI), and a sorted sample for the two-sample Kolmogorov-Smirnov (KS) test. It is plain JSON, so
a reference file is safe to load. A `DriftMonitor` keeps the last `window` rows in a ring buffer
and, on demand, reports both statistics per column and which columns drifted. No I/O, no clock.

PSI sees shifts in mass between bins and is robust to sample size; KS sees any difference in
distribution and comes with a p-value. A column is flagged when either crosses its threshold,
and only once it holds `min_rows` values: before that both statistics are mostly noise.
Missing values (NaN) are left out of every statistic.

One module per concept:

- `monitor`: `DriftMonitor`, the entry point;
- `reference`: `Reference` and `ColumnReference`, and their JSON file;
- `report`: `DriftReport` and `ColumnDrift`;
- `statistics`: `psi` and `ks`.
"""

from mlmon.monitoring.drift.monitor import DriftMonitor
from mlmon.monitoring.drift.reference import MAX_SORTED, PREDICTION, ColumnReference, Reference
from mlmon.monitoring.drift.report import DriftReport
from mlmon.monitoring.drift.statistics import ks, psi

__all__ = [
    "MAX_SORTED",
    "PREDICTION",
    "ColumnReference",
    "DriftMonitor",
    "DriftReport",
    "Reference",
    "ks",
    "psi",
]
