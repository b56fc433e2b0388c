"""MetricLogReader: the header's columns, model names and counts, rows handed to a sink."""

from __future__ import annotations

import logging
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from mlmon.metric_log import reader as error_log
from mlmon.metric_log import tail
from mlmon.metric_log.reader import MetricLogReader, RowBlock
from tests.unit.metric_log.sample_log import HEADER, SEED_HEADER, KeptRows, append, row


def test_reads_rows_and_statistics(log_path: Path, rows: KeptRows) -> None:
    """A first poll takes every row; count, mean, errors and models follow."""
    log_path.write_text(HEADER + row("a", 1.5) + row("b", 2.5, "forest"))
    reader = MetricLogReader(log_path, rows)
    assert reader.poll() == 2
    assert reader.count == 2
    assert rows.errors.mean() == pytest.approx(2.0)
    assert rows.errors.dtype == np.float64
    assert rows.errors.tolist() == [1.5, 2.5]
    assert rows.models.tolist() == ["linear", "forest"]
    assert rows.blocks[-1].names == ("linear", "forest")
    assert reader.skipped == 0


def test_blocks_handed_over_are_not_changed_by_later_polls(log_path: Path, rows: KeptRows) -> None:
    """A sink may keep a block's arrays (or slices): later polls never write to them."""
    log_path.write_text(HEADER + row("a", 1.0))
    reader = MetricLogReader(log_path, rows)
    reader.poll()
    first = rows.blocks[0]
    append(log_path, "".join(row(str(i), float(i)) for i in range(5000)))
    reader.poll()
    assert first.errors.tolist() == [1.0]
    assert first.codes.tolist() == [0]
    assert reader.count == 5001
    assert rows.errors[-1] == 4999.0


def test_seed_format_log(log_path: Path, rows: KeptRows) -> None:
    """The seeds' four-column log is read; its rows name no model."""
    log_path.write_text(
        SEED_HEADER + "1700000000.1,151.0,140.5,10.5\n1700000000.2,80.0,95.0,15.0\n"
    )
    reader = MetricLogReader(log_path, rows)
    assert reader.poll() == 2
    assert rows.errors.tolist() == [10.5, 15.0]
    assert rows.models.tolist() == ["", ""]
    assert rows.blocks[-1].names == ("",)


def test_seed_log_with_rows_appended_by_the_metric_service(log_path: Path, rows: KeptRows) -> None:
    """Full rows appended under a seed header still give their model."""
    log_path.write_text(SEED_HEADER + "1,151.0,140.5,10.5\n" + row("a", 2.0, "forest"))
    reader = MetricLogReader(log_path, rows)
    assert reader.poll() == 2
    assert rows.models.tolist() == ["", "forest"]


def test_columns_are_found_by_name(log_path: Path, rows: KeptRows) -> None:
    """The error and model columns are located by the header, in any order."""
    log_path.write_text("model,absolute_error,id\nrf,1.25,a\nlin,2.5,b\n")
    reader = MetricLogReader(log_path, rows)
    assert reader.poll() == 2
    assert rows.errors.tolist() == [1.25, 2.5]
    assert rows.models.tolist() == ["rf", "lin"]


def test_log_without_error_column_skips_rows(log_path: Path, rows: KeptRows) -> None:
    """A header without absolute_error makes every row skipped, not a crash."""
    log_path.write_text("id,value\na,1\nb,2\n")
    reader = MetricLogReader(log_path, rows)
    assert reader.poll() == 0
    assert reader.skipped == 2


def test_extra_columns_a_seed_log_lacks_are_nan(tmp_path: Path) -> None:
    path = tmp_path / "metric_log.csv"
    path.write_text("id,y_true,y_pred,absolute_error\n1,2.0,3.0,1.0\n")
    rows = KeptRows()
    reader = MetricLogReader(path, rows, extra=("y_true", "joined_at"))
    assert reader.poll() == 1
    assert rows.column("y_true").tolist() == [2.0]
    assert math.isnan(rows.column("joined_at")[0])


class CountedRows:
    """A sink that only counts: whatever memory grows is the reader's own."""

    columns: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.rows = 0

    def add(self, block: RowBlock) -> None:
        self.rows += len(block)

    def reset(self) -> None:
        self.rows = 0


def test_the_reader_keeps_no_rows(log_path: Path) -> None:
    """Following a log through 300,000 appended rows, the reader holds no more memory than
    at the start: rows go to the sink (the reader once kept every row itself)."""
    counted = CountedRows()
    log_path.write_text(HEADER + row("first", 1.0))
    reader = MetricLogReader(log_path, counted, extra=("y_true", "y_pred", "joined_at"))
    reader.poll()
    chunk = "".join(row(f"r{i}", i * 0.25, f"model-{i % 3}") for i in range(30_000))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(10):
            append(log_path, chunk)
            reader.poll()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert counted.rows == reader.count == 300_001
    assert held < 200_000


def test_models_past_the_cap_are_counted_as_one_group(
    log_path: Path, rows: KeptRows, caplog: pytest.LogCaptureFixture
) -> None:
    """A mislabelled model column (an id per row) once made a model of every row, each with
    its own figures, sample and slots; past TRACKED_MODELS names the rest share one group,
    warned about once, and the names the reader remembers stay bounded."""
    cap = error_log.TRACKED_MODELS
    log_path.write_text(HEADER + "".join(row(f"r{i}", 1.0, f"id-{i}") for i in range(5_000)))
    reader = MetricLogReader(log_path, rows)
    with caplog.at_level(logging.WARNING, logger="mlmon.metric_log.reader"):
        reader.poll()
        append(log_path, row("late", 2.0, "id-3") + row("later", 3.0, "id-4999"))
        reader.poll()
    names = rows.blocks[-1].names
    assert names == (*(f"id-{i}" for i in range(cap)), error_log.OTHER_MODELS)
    assert rows.models.tolist().count(error_log.OTHER_MODELS) == 5_000 - cap + 1
    assert rows.models[-2:].tolist() == ["id-3", error_log.OTHER_MODELS]
    assert caplog.text.count("more than 32 models") == 1
    assert len(reader._code_of_raw) <= error_log.RAW_NAMES_KEPT


class FailingOnce(KeptRows):
    """Keeps rows, but raises on the `fail_at`-th block it is handed (after taking part of it,
    as a sink might)."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at = fail_at
        self.calls = 0

    def add(self, block: RowBlock) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            super().add(RowBlock(block.errors[:1], block.codes[:1], block.names))
            raise RuntimeError("out of memory")
        super().add(block)


def test_a_sink_that_raises_never_makes_rows_count_twice(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the sink raises mid-poll, the poll raises, and the next one reads the log again from
    the top: the reader's count and the sink's rows are every row once."""
    monkeypatch.setattr(tail, "READ_BYTES", 200)  # several blocks
    errors = [float(i) for i in range(40)]
    log_path.write_text(HEADER + "".join(row(str(i), e) for i, e in enumerate(errors)))
    sink = FailingOnce(fail_at=3)
    reader = MetricLogReader(log_path, sink)
    with pytest.raises(RuntimeError, match="out of memory"):
        reader.poll()
    reader.poll()
    assert sink.errors.tolist() == errors
    assert reader.count == 40
    assert sink.errors.mean() == pytest.approx(np.mean(errors))
