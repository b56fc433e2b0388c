"""MetricLogReader: incremental, resilient reading of metric_log.csv, handed to a sink."""

from __future__ import annotations

import csv
import logging
import math
import os
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlmon.metric_log import reader as error_log
from mlmon.metric_log import tail
from mlmon.metric_log.reader import MetricLogReader, RowBlock

HEADER = "id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at\n"
SEED_HEADER = "id,y_true,y_pred,absolute_error\n"


def row(key: str, error: float, model: str = "linear") -> str:
    return f"{key},1.0,{1.0 + error!r},{error!r},{model},1,1700000000.0,1700000000.5\n"


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8", newline="") as handle:
        handle.write(text)


class KeptRows:
    """A sink that keeps every row it is handed (as the reader itself did before): for tests."""

    columns: tuple[str, ...] = ()  # only what a test asks for

    def __init__(self) -> None:
        self.blocks: list[RowBlock] = []
        self.resets = 0

    def add(self, block: RowBlock) -> None:
        self.blocks.append(block)

    def reset(self) -> None:
        self.blocks.clear()
        self.resets += 1

    @property
    def errors(self) -> np.ndarray:
        return np.concatenate([np.empty(0), *(block.errors for block in self.blocks)])

    @property
    def models(self) -> np.ndarray:
        return np.array([b.names[c] for b in self.blocks for c in b.codes], dtype=np.str_)

    def column(self, name: str) -> np.ndarray:
        return np.concatenate([np.empty(0), *(block.column(name) for block in self.blocks)])


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "metric_log.csv"


@pytest.fixture
def rows() -> KeptRows:
    return KeptRows()


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


def test_incremental_reads_leave_partial_lines_for_later(log_path: Path, rows: KeptRows) -> None:
    """Appended rows are read once each, and a half-written row waits until it is complete."""
    log_path.write_text(HEADER + row("a", 1.0))
    reader = MetricLogReader(log_path, rows)
    assert reader.poll() == 1
    full = row("c", 3.0)
    append(log_path, row("b", 2.0) + full[:9])
    assert reader.poll() == 1
    assert reader.poll() == 0
    append(log_path, full[9:])
    assert reader.poll() == 1
    assert rows.errors.tolist() == [1.0, 2.0, 3.0]


def test_partial_header_waits(log_path: Path, rows: KeptRows) -> None:
    """A header without its newline yet is not taken as a header."""
    log_path.write_text(HEADER[:10])
    reader = MetricLogReader(log_path, rows)
    assert reader.poll() == 0
    append(log_path, HEADER[10:] + row("a", 4.0))
    assert reader.poll() == 1
    assert rows.errors.tolist() == [4.0]


def test_poll_with_nothing_new_does_not_open_the_file(
    log_path: Path, rows: KeptRows, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unchanged file costs one stat: the file is not even opened."""
    log_path.write_text(HEADER + row("a", 1.0))
    reader = MetricLogReader(log_path, rows)
    reader.poll()

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("opened an unchanged file")

    monkeypatch.setattr(Path, "open", refuse)
    assert reader.poll() == 0


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


def test_truncation_resets(log_path: Path, rows: KeptRows) -> None:
    """A file cut below what was read is read again from the top."""
    log_path.write_text(HEADER + row("a", 1.0) + row("b", 2.0) + row("c", 3.0))
    reader = MetricLogReader(log_path, rows)
    reader.poll()
    with log_path.open("r+b") as handle:
        handle.truncate(len(HEADER) + len(row("a", 1.0)))
    assert reader.poll() == 1
    assert rows.errors.tolist() == [1.0]
    assert reader.resets == rows.resets == 1


def test_cut_back_and_rewritten_past_the_offset_resets(log_path: Path, rows: KeptRows) -> None:
    """Rows rewritten after a crash are noticed even when the file has grown past the offset."""
    first, second = row("a", 1.0), row("b", 2.0)
    log_path.write_text(HEADER + first + second)
    reader = MetricLogReader(log_path, rows)
    reader.poll()
    with log_path.open("r+b") as handle:
        handle.truncate(len(HEADER) + len(first))
    append(log_path, row("c", 30.0) + row("d", 40.0) + row("e", 50.0))
    reader.poll()
    assert rows.errors.tolist() == [1.0, 30.0, 40.0, 50.0]
    assert reader.resets == rows.resets == 1


def test_replaced_file_resets(log_path: Path, rows: KeptRows) -> None:
    """A file replaced by another (a new inode) is read from the top."""
    log_path.write_text(HEADER + row("a", 1.0))
    reader = MetricLogReader(log_path, rows)
    reader.poll()
    replacement = log_path.with_name("new.csv")
    replacement.write_text(HEADER + row("x", 7.0) + row("y", 8.0) + row("z", 9.0))
    os.replace(replacement, log_path)
    assert reader.poll() == 3
    assert rows.errors.tolist() == [7.0, 8.0, 9.0]
    assert rows.resets == 1


def test_missing_file_is_zero_rows(log_path: Path, rows: KeptRows) -> None:
    """No file yet: no rows, no exception; rows are read once it appears."""
    reader = MetricLogReader(log_path, rows)
    assert reader.poll() == 0
    assert reader.count == 0
    assert not rows.blocks  # nothing handed over, not even an empty block
    assert rows.errors.size == 0
    assert rows.models.size == 0
    log_path.write_text(HEADER + row("a", 1.0))
    assert reader.poll() == 1


def test_disappearing_file_resets(log_path: Path, rows: KeptRows) -> None:
    """A removed log empties the reader; a new one is read from its start."""
    log_path.write_text(HEADER + row("a", 1.0))
    reader = MetricLogReader(log_path, rows)
    reader.poll()
    log_path.unlink()
    assert reader.poll() == 0
    assert reader.count == 0
    assert rows.errors.size == 0
    log_path.write_text(HEADER + row("b", 2.0))
    assert reader.poll() == 1
    assert rows.errors.tolist() == [2.0]


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


def test_unparsable_and_non_finite_rows_are_skipped_and_counted(
    log_path: Path, rows: KeptRows
) -> None:
    """Garbage, short, empty-valued and non-finite rows are counted; blank lines are ignored."""
    log_path.write_text(
        HEADER
        + row("a", 1.0)
        + "b,1,2,not-a-number,lin,1,0,0\n"
        + "short,row\n"
        + "\n"
        + "c,1,2,,lin,1,0,0\n"
        + row("d", math.nan)
        + row("e", math.inf)
        + row("f", 2.0)
    )
    reader = MetricLogReader(log_path, rows)
    assert reader.poll() == 2
    assert rows.errors.tolist() == [1.0, 2.0]
    assert rows.models.tolist() == ["linear", "linear"]
    assert reader.skipped == 5


def test_quoted_fields_and_crlf_line_ends(log_path: Path, rows: KeptRows) -> None:
    """Quoted fields (commas inside an id) and CRLF line ends parse correctly."""
    log_path.write_bytes(
        HEADER.replace("\n", "\r\n").encode()
        + b'"id,with,commas",1,2,3.5,"mo""del",1,0,0\r\n'
        + b"plain,1,2,4.5,lin,1,0,0\r\n"
    )
    reader = MetricLogReader(log_path, rows)
    assert reader.poll() == 2
    assert rows.errors.tolist() == [3.5, 4.5]
    assert rows.models.tolist() == ['mo"del', "lin"]


def test_log_without_error_column_skips_rows(log_path: Path, rows: KeptRows) -> None:
    """A header without absolute_error makes every row skipped, not a crash."""
    log_path.write_text("id,value\na,1\nb,2\n")
    reader = MetricLogReader(log_path, rows)
    assert reader.poll() == 0
    assert reader.skipped == 2


def test_small_read_blocks_carry_partial_lines(
    log_path: Path, rows: KeptRows, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows split across read blocks are joined before parsing."""
    monkeypatch.setattr(tail, "READ_BYTES", 7)
    errors = [0.1 * i for i in range(50)]
    log_path.write_text(HEADER + "".join(row(str(i), e) for i, e in enumerate(errors)))
    reader = MetricLogReader(log_path, rows)
    assert reader.poll() == 50
    assert rows.errors.tolist() == errors


def _reference(text: str) -> tuple[list[float], list[str]]:
    """What the csv module makes of the complete lines of `text`."""
    complete = text[: text.rfind("\n") + 1]
    rows = list(csv.reader(complete.splitlines()[1:]))
    taken = [(float(r[3]), r[4]) for r in rows if r and math.isfinite(float(r[3]))]
    return [e for e, _ in taken], [m for _, m in taken]


@settings(max_examples=60, deadline=None)
@given(
    errors=st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False), max_size=40),
    models=st.lists(st.sampled_from(["lin", "rf", "gbm,v2"]), min_size=40, max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=6),
)
def test_any_split_of_appends_reads_every_row_once(
    errors: list[float], models: list[str], cuts: list[int]
) -> None:
    """However the writes are split into appends and polls, every row is read exactly once."""
    lines = []
    for i, error in enumerate(errors):
        model = f'"{models[i]}"' if "," in models[i] else models[i]
        lines.append(f"id-{i},1.0,2.0,{error!r},{model},1,0.0,0.0\n")
    text = HEADER + "".join(lines)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "metric_log.csv"
        path.write_text("")
        rows = KeptRows()
        reader = MetricLogReader(path, rows)
        written = 0
        for cut in [*sorted(cuts), len(text)]:
            append(path, text[written:cut])
            written = max(written, cut)
            reader.poll()
        expected_errors, expected_models = _reference(text)
        assert rows.errors.tolist() == expected_errors
        assert rows.models.tolist() == expected_models


def test_extra_columns_follow_their_rows_in_both_parsers(tmp_path: Path) -> None:
    path = tmp_path / "metric_log.csv"
    header = "id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at\n"
    plain = "a,10.0,12.5,2.5,m,1,100.0,101.0\nb,20.0,19.0,1.0,m,1,,102.0\n"
    quoted = '"c,1",30.0,33.0,3.0,"m",1,100.0,103.0\n'
    path.write_text(header + plain)
    rows = KeptRows()
    reader = MetricLogReader(path, rows, extra=("y_true", "y_pred", "joined_at", "sent_at"))
    reader.poll()
    with path.open("a") as handle:
        handle.write(quoted)  # quoting: the csv-module path
    reader.poll()
    assert rows.errors.tolist() == [2.5, 1.0, 3.0]
    assert rows.column("y_true").tolist() == [10.0, 20.0, 30.0]
    assert rows.column("y_pred").tolist() == [12.5, 19.0, 33.0]
    assert rows.column("joined_at").tolist() == [101.0, 102.0, 103.0]
    sent = rows.column("sent_at")
    assert sent[0] == sent[2] == 100.0
    assert math.isnan(sent[1])


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
