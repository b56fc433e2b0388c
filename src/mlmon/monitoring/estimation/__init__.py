"""Estimated quality before labels: a model's figures on rows whose true values have not come
yet, from a labelled reference (pure: arrays in, figures out; no I/O, no clock).

- Classification, confidence-based performance estimation (CBPE): scores calibrated on the
  reference by isotonic regression give each unlabelled row's probability of each class;
  their sums make an expected confusion matrix (accuracy, macro precision, recall, F1) and an
  expected ROC curve (AUC).
- Regression, direct loss estimation (DLE): gradient-boosted trees fitted on the reference's
  features and predictions to its absolute and squared errors predict the loss of each
  unlabelled row (MAE, RMSE).

Both follow NannyML's methods and share their assumption: what the reference taught about
where the model errs still holds (a covariate shift, not a change of concept). Sums are
additive (`ExpectedConfusion`, `LossSums`), so windows and time buckets merge them; the AUC
needs a set's rows. Bad input raises `EstimationError` naming the cause.

One module per concept:

- `confidence`: `ConfidenceEstimator`, CBPE's entry point;
- `calibration`: `ScoreCalibrator`, isotonic regression one class against the rest;
- `confusion`: `ExpectedConfusion` and `ClassificationEstimate`;
- `roc_auc`: the expected AUC of a set of rows;
- `loss`: `LossEstimator` (DLE), `LossSums` and `RegressionEstimate`;
- `checks`: the input checks both share.
"""

from mlmon.monitoring.estimation.checks import MIN_REFERENCE_ROWS
from mlmon.monitoring.estimation.confidence import ConfidenceEstimator
from mlmon.monitoring.estimation.confusion import ClassificationEstimate, ExpectedConfusion
from mlmon.monitoring.estimation.loss import LossEstimator, LossSums, RegressionEstimate
from mlmon.monitoring.estimation.roc_auc import estimated_roc_auc

__all__ = [
    "MIN_REFERENCE_ROWS",
    "ClassificationEstimate",
    "ConfidenceEstimator",
    "ExpectedConfusion",
    "LossEstimator",
    "LossSums",
    "RegressionEstimate",
    "estimated_roc_auc",
]
