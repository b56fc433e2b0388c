"""The files the metric service writes and their columns, shared with their readers."""

from __future__ import annotations

from pathlib import Path

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
# Several metric workers: each writes its log shard in a directory of its own under this one,
# `metric-shards/2-of-3/metric_log.csv` (with its orphans.csv and join store); one worker
# writes `metric_log.csv` itself, as the seeds do.
SHARDS_DIR = "metric-shards"
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


def shard_dir(logs_dir: Path, name: str) -> Path:
    """The directory of the metric worker of shard `name` (`2-of-3`)."""
    return logs_dir / SHARDS_DIR / name


def shard_dirs(logs_dir: Path) -> list[Path]:
    """The metric workers' directories under a logs directory, in order."""
    return sorted(path for path in (logs_dir / SHARDS_DIR).glob("*") if path.is_dir())


def metric_logs(logs_dir: Path, name: str = METRIC_LOG) -> list[Path]:
    """Every metric log (or orphans file) of a logs directory: the single metric's, then each
    shard's, whichever exist (a directory may hold runs with different numbers of workers)."""
    shards = [path for path in (d / name for d in shard_dirs(logs_dir)) if path.exists()]
    single = logs_dir / name
    return [single, *shards] if single.exists() or not shards else shards
