"""The metric log's fast row formatting matches the csv module exactly."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from mlmon.append_log import format_rows
from mlmon.join_store import Pair
from mlmon.services.metric import metric_lines

finite = st.floats(allow_nan=False, allow_infinity=False)
pairs = st.builds(
    Pair,
    st.text(min_size=1, max_size=12),
    finite,
    finite,
    st.text(max_size=8),
    st.text(max_size=4),
    st.none() | finite,
    finite,
)


@given(st.lists(pairs, max_size=10))
def test_fast_lines_read_back_like_the_csv_module_writes(batch: list[Pair]) -> None:
    """Whatever the ids and names (commas, quotes, newlines), the lines parse to the same
    cells as the csv module's output, and absolute_error reads back as |y_true - y_pred|."""
    expected = format_rows(
        [
            (
                p.key,
                p.y_true,
                p.y_pred,
                p.absolute_error,
                p.model,
                p.version,
                p.sent_at,
                p.joined_at,
            )
            for p in batch
        ]
    )
    text = metric_lines(batch)
    assert list(csv.reader(io.StringIO(text, newline=""))) == list(
        csv.reader(io.StringIO(expected, newline=""))
    )
    for row in csv.reader(io.StringIO(text, newline="")):
        assert float(row[3]) == abs(float(row[1]) - float(row[2]))


def test_plain_ids_take_the_fast_path() -> None:
    """Ordinary ids produce one plain line per pair."""
    pair = Pair("run-1", 151.0, 140.5, "m", "1", None, 5.0)
    assert metric_lines([pair]) == "run-1,151.0,140.5,10.5,m,1,,5.0\n"
