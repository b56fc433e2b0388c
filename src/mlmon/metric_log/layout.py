"""The files the metric service writes and their columns, shared with their readers."""

from __future__ import annotations

METRIC_LOG = "metric_log.csv"
# The seeds' four columns first, named exactly so; mlmon's own after them.
METRIC_COLUMNS = (
    "id",
    "y_true",
    "y_pred",
    "absolute_error",
    "model",
    "model_version",
    "sent_at",
    "joined_at",
    "scores",  # a prediction's class probabilities as a JSON object, empty when it gave none
    "tags",  # the record's tags as a JSON object, empty when it has none
)
ERROR_COLUMN = "absolute_error"  # the column every reader of the metric log needs
MODEL_COLUMN = "model"  # absent from a seed log, whose rows name no model
ORPHAN_LOG = "orphans.csv"
ORPHAN_COLUMNS = ("id", "kind", "value", "model", "arrived_at", "expired_at")
# The change points the plot service's detectors found in the metric log, one row each.
CHANGE_LOG = "change_points.csv"
CHANGE_COLUMNS = (
    "row",  # 1-based number of the metric log's row where the change was flagged
    "model",
    "segment",  # "" for the model's whole stream, else "key=value" of a tag
    "detector",
    "joined_at",
    "sent_at",
    "mean_before",  # the stream's mean error since its previous change point
    "rows_before",
    "found_at",  # when the detector first reported it
)
