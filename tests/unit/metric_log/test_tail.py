"""Following metric_log.csv as it grows, is cut back, replaced or removed (LineTail, through the
reader): every complete row read once, a half-written one left for later."""

from __future__ import annotations

import csv
import math
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlmon.metric_log import tail
from mlmon.metric_log.reader import MetricLogReader
from tests.unit.metric_log.sample_log import HEADER, KeptRows, append, row


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
