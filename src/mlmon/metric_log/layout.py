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
)
ORPHAN_LOG = "orphans.csv"
ORPHAN_COLUMNS = ("id", "kind", "value", "model", "arrived_at", "expired_at")
