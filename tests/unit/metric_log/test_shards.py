"""MergedLogReader: the single metric's log, or every worker's log shard, read as one log."""

from __future__ import annotations

from pathlib import Path

from mlmon.metric_log.layout import SHARDS_DIR, metric_logs
from mlmon.metric_log.shards import MergedLogReader
from tests.unit.metric_log.sample_log import HEADER, KeptRows, append, row


def _shard(logs: Path, name: str, text: str) -> Path:
    path = logs / SHARDS_DIR / name / "metric_log.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + text)
    return path


def test_one_metric_reads_metric_log_csv_itself(tmp_path: Path) -> None:
    """Without shards the reader is the single log's: metric_log.csv, as the seeds write it."""
    (tmp_path / "metric_log.csv").write_text(HEADER + row("a", 1.0) + row("b", 2.0))
    rows = KeptRows()
    reader = MergedLogReader(tmp_path, rows)
    assert reader.poll() == 2
    assert reader.files == [tmp_path / "metric_log.csv"]
    assert rows.errors.tolist() == [1.0, 2.0]


def test_shards_are_merged_with_one_table_of_model_names(tmp_path: Path) -> None:
    """Each shard names its models in its own order; the sink sees one table of names."""
    _shard(tmp_path, "1-of-2", row("a", 1.0, "champion") + row("b", 2.0, "challenger"))
    _shard(tmp_path, "2-of-2", row("c", 3.0, "challenger") + row("d", 4.0, "champion"))
    rows = KeptRows()
    reader = MergedLogReader(tmp_path, rows)
    assert reader.poll() == 4
    assert reader.count == 4
    assert sorted(zip(rows.models.tolist(), rows.errors.tolist(), strict=True)) == [
        ("challenger", 2.0),
        ("challenger", 3.0),
        ("champion", 1.0),
        ("champion", 4.0),
    ]
    assert rows.blocks[-1].names == ("champion", "challenger")


def test_rows_appended_and_new_shards_are_read_by_later_polls(tmp_path: Path) -> None:
    first = _shard(tmp_path, "1-of-2", row("a", 1.0))
    rows = KeptRows()
    reader = MergedLogReader(tmp_path, rows)
    assert reader.poll() == 1
    append(first, row("b", 2.0))
    _shard(tmp_path, "2-of-2", row("c", 3.0))
    assert reader.poll() == 2
    assert reader.poll() == 0
    assert sorted(rows.errors.tolist()) == [1.0, 2.0, 3.0]


def test_a_shard_cut_back_reads_every_shard_again_without_doubles(tmp_path: Path) -> None:
    """A worker that crashed cuts its shard back: the sink starts over with every shard."""
    first = _shard(tmp_path, "1-of-2", row("a", 1.0) + row("b", 2.0))
    _shard(tmp_path, "2-of-2", row("c", 3.0))
    rows = KeptRows()
    reader = MergedLogReader(tmp_path, rows)
    reader.poll()
    first.write_text(HEADER + row("a", 1.0))  # the uncommitted row is gone
    reader.poll()
    assert sorted(rows.errors.tolist()) == [1.0, 3.0]
    assert reader.resets == 1
    assert rows.resets == 1


def test_metric_logs_lists_the_single_log_then_the_shards(tmp_path: Path) -> None:
    assert metric_logs(tmp_path) == [tmp_path / "metric_log.csv"]  # to be waited for
    shard = _shard(tmp_path, "1-of-2", "")
    assert metric_logs(tmp_path) == [shard]
    (tmp_path / "metric_log.csv").write_text(HEADER)
    assert metric_logs(tmp_path) == [tmp_path / "metric_log.csv", shard]
