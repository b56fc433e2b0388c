"""ROC AUC of unlabelled rows, estimated as NannyML's CBPE does.

Rows are ranked by the model's own score of a class; at each threshold the expected true
positives are the sum of the calibrated probabilities of that class above it, the expected
false positives the sum of their complements; the AUC is the area under the expected curve.
That is the AUC of every row counted twice, as a positive with weight p and as a negative with
weight 1 - p (p its calibrated probability), which is how scikit-learn's `roc_auc_score` with
sample weights computes it here, ties included. Not additive: the AUC of a chunk needs the
chunk's rows.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from mlmon.arrays import Floats


def class_roc_auc(score: Floats, probability: Floats) -> float | None:
    """The expected AUC of one class's `score` given its calibrated `probability` per row;
    None when every row is surely of the class or surely not."""
    positives, negatives = float(probability.sum()), float((1.0 - probability).sum())
    if positives <= 0.0 or negatives <= 0.0:
        return None
    rows = len(score)
    truth = np.concatenate([np.ones(rows), np.zeros(rows)])
    weights = np.concatenate([probability, 1.0 - probability])
    return float(roc_auc_score(truth, np.concatenate([score, score]), sample_weight=weights))


def estimated_roc_auc(scores: Floats, calibrated: Floats) -> float | None:
    """One-vs-rest macro AUC of rows x classes `scores` (as the model gave them) with their
    `calibrated` probabilities; with two classes the second class's AUC. None if no class
    has one."""
    if scores.shape[1] == 2:
        return class_roc_auc(scores[:, 1], calibrated[:, 1])
    found = [class_roc_auc(scores[:, j], calibrated[:, j]) for j in range(scores.shape[1])]
    defined = [auc for auc in found if auc is not None]
    return float(np.mean(defined)) if defined else None
