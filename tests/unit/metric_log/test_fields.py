"""Parsing a block of rows: the numpy path and the csv path give the same columns; rows that
cannot be used are skipped and counted."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mlmon.metric_log.reader import MetricLogReader
from tests.unit.metric_log.sample_log import HEADER, KeptRows, row


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


_CELLS = st.sampled_from(
    [
        "",
        '"{""region"":""eu""}"',
        '"{""region"":""us"",""site"":""x,y""}"',
        '"{""Adelie"":0.9,""Gentoo"":0.1}"',
        '"{oops"',
        "[1]",
    ]
)
_LABELS = st.sampled_from(["1.5", "Adelie", '"Ade,lie"', ""])


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(_LABELS, _LABELS, _CELLS, _CELLS, st.booleans()), min_size=1, max_size=30)
)
def test_the_fast_path_reads_quoted_json_tails_as_the_csv_path_does(
    rows: list[tuple[str, str, str, str, bool]],
) -> None:
    """Lines quoted only in their scores and tags cells take the numpy path, and give what
    the csv module gives; a quote before them sends the block to the csv path."""
    from mlmon.metric_log.fields import NeedsSlowPath, parse_fast, parse_slow

    lines = "".join(
        f"{i},{t},{p},{i * 0.5},{'m' if odd else 'n'},1,0,0,{s},{g}\n"
        for i, (t, p, s, g, odd) in enumerate(rows)
    ).encode()
    columns = {"y_true": 1, "y_pred": 2, "scores": 8, "tags": 9}
    codes: dict[bytes, int] = {}

    def code(raw: bytes) -> int:
        return codes.setdefault(raw.strip(b'"'), len(codes))

    slow = parse_slow(lines, 3, 4, columns, code)
    try:
        fast = parse_fast(lines, 3, 4, columns, code)
    except NeedsSlowPath:
        assert any('"' in t + p for t, p, *_ in rows)  # only a quoted label sends it there
        return
    assert fast.errors.tolist() == slow.errors.tolist()
    assert fast.codes.tolist() == slow.codes.tolist()
    for name in ("y_true", "y_pred"):
        assert np.array_equal(fast.extras[name], slow.extras[name], equal_nan=True)
    assert fast.tags is not None
    assert slow.tags is not None
    assert fast.tags.rows() == slow.tags.rows()
    assert fast.scores is not None
    assert slow.scores is not None
    assert fast.scores.classes == slow.scores.classes
    assert np.array_equal(fast.scores.values, slow.scores.values, equal_nan=True)
    assert fast.scores.unreadable == slow.scores.unreadable
