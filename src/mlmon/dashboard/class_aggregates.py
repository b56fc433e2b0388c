"""What the live dashboard shows of classifiers, computed from their counts (`Classifiers`).

The classification counterparts of `aggregates`' regression figures: per model the rows,
right and wrong rows, accuracy and macro F1 over every row, and log loss, Brier and one-vs-rest
ROC AUC over its rows with scores (None without: the page shows a dash); accuracy per bucket of
time (or rows); and each classifier's confusion matrix by class name, at most
CONFUSION_CLASSES classes and the rest as "other". Aggregates only, as for regression.
"""

from __future__ import annotations

from typing import Any

from mlmon.dashboard.classifiers import Classifiers
from mlmon.summary.over_time import TIME_BUCKETS


def classifier_summaries(classifiers: Classifiers) -> list[dict[str, Any]]:
    """Per classifier with rows, in order of first appearance: rows, right and wrong rows,
    accuracy, macro F1, and the score figures of its scored rows (`scored_rows` of them)."""
    summaries = []
    for name, counts in _in_log_order(classifiers):
        scores = counts.scores.figures()
        summaries.append(
            {
                "model": name or "model",
                "rows": counts.rows,
                "right": counts.hits,
                "wrong": counts.rows - counts.hits,
                "accuracy": counts.accuracy,
                "macro_f1": counts.macro_f1,
                "scored_rows": scores.scored_rows,
                "log_loss": scores.log_loss,
                "brier": scores.brier,
                "roc_auc_ovr": scores.roc_auc_ovr,
                "classes": len(counts.codes) - counts.lumped,
                "lumped": counts.lumped,  # classes past the limit: macro F1 approximate
            }
        )
    return summaries


def accuracy_over_time(classifiers: Classifiers, buckets: int = TIME_BUCKETS) -> dict[str, Any]:
    """Accuracy and rows per bucket per classifier, on the axes of `metrics_over_time` (by
    joined_at over the current run, or by row number); a bucket without rows is None."""
    series = classifiers.over_time.series(classifiers.names, buckets)
    models = []
    for model in series.pop("models"):
        wrong_share = model["mae"]  # the mean of 0/1 "wrong" per bucket
        models.append(
            {
                "model": model["model"],
                "rows": model["rows"],
                "accuracy": [None if w is None else round(1.0 - w, 6) for w in wrong_share],
            }
        )
    return {**series, "models": models}


def confusion_tables(classifiers: Classifiers) -> list[dict[str, Any]]:
    """Per classifier with rows, in order of first appearance: its confusion matrix over every
    row (rows: true label, columns: predicted), class names in display order."""
    return [
        {"model": name or "model", **counts.confusion()}
        for name, counts in _in_log_order(classifiers)
    ]


def _in_log_order(classifiers: Classifiers) -> list[tuple[str, Any]]:
    counts = classifiers.counts
    return [(name, counts[name]) for name in classifiers.names if name in counts]
