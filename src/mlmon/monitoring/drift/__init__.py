"""Data and prediction drift: the last rows of the stream compared with a reference sample.

A `Reference` summarises the data the model was trained or validated on: per numeric feature
and for the model's predictions, quantile bin edges and proportions for the Population
Stability Index (PSI), a sorted sample for the two-sample Kolmogorov-Smirnov (KS) test and the
range; per categorical feature, the counts of its most frequent categories (the rest as one
"other" count). It is plain JSON, so a reference file is safe to load. A `DriftMonitor` keeps
the last `window` rows in ring buffers and, on demand, reports per column an effect size and a
test, and which columns drifted. No I/O, no clock.

The rule, so that drift does not fire on everything:

- each column is tested: KS for numbers, Pearson's chi-square for categories (a category the
  reference never had is a cell of its own, so a new category that keeps coming is drift; a
  single one is not, rare cells being pooled, but the data quality counts it);
- a column takes part only once the window holds `min_rows` of its values (before that every
  figure is mostly noise), and missing values and type mismatches are left out;
- a column is flagged when its p-value is a Benjamini-Hochberg discovery at the false
  discovery rate `fdr` across every column tested in the report (features and prediction):
  with 100 unshifted features, on average at most `fdr` of the windows flag any column,
  where flagging each at p < 0.01 would flag about one column per window by chance;
- PSI and the Jensen-Shannon distance (JS) are the effect sizes shown beside; they never flag
  on their own, since their noise grows with the number of bins or categories and shrinks
  with the window (50 categories in 200 rows give JS near 0.17 by chance). Alert rules on
  them (`psi[bmi] > 0.2`) remain for those who want an alarm on a large shift.

One module per concept:

- `monitor`: `DriftMonitor`, the entry point;
- `reference`: `Reference` and `ColumnReference`, and their JSON file;
- `categories`: `CategoryReference` and the codes of a window's categories;
- `report`: `DriftReport` and `ColumnDrift`;
- `statistics`: `psi`, `ks`, `chi_square` and `js_distance`.
"""

from mlmon.monitoring.drift.categories import MAX_CATEGORIES, CategoryReference
from mlmon.monitoring.drift.monitor import DriftMonitor
from mlmon.monitoring.drift.reference import MAX_SORTED, PREDICTION, ColumnReference, Reference
from mlmon.monitoring.drift.report import DriftReport
from mlmon.monitoring.drift.statistics import chi_square, js_distance, ks, psi

__all__ = [
    "MAX_CATEGORIES",
    "MAX_SORTED",
    "PREDICTION",
    "CategoryReference",
    "ColumnReference",
    "DriftMonitor",
    "DriftReport",
    "Reference",
    "chi_square",
    "js_distance",
    "ks",
    "psi",
]
