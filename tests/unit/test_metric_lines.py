"""The metric log's fast row formatting matches the csv module exactly."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from mlmon.append_log import format_rows
from mlmon.hot_join import Joined
from mlmon.services.metric import metric_lines

finite = st.floats(allow_nan=False, allow_infinity=False)
Row = tuple[str, float, float, str, str, float | None, float]
rows = st.tuples(
    st.text(min_size=1, max_size=12),
    finite,
    finite,
    st.text(max_size=8),
    st.text(max_size=4),
    st.none() | finite,
    finite,
)


def joined_of(batch: list[Row]) -> Joined:
    joined = Joined()
    for key, y_true, y_pred, model, version, sent_at, joined_at in batch:
        joined.append(
            key, (y_true, sent_at, joined_at), (model, version, y_pred, None, 0), joined_at
        )
    return joined


@given(st.lists(rows, max_size=10))
def test_fast_lines_read_back_like_the_csv_module_writes(batch: list[Row]) -> None:
    """Whatever the ids and names (commas, quotes, newlines), the lines parse to the same
    cells as the csv module's output, and absolute_error reads back as |y_true - y_pred|."""
    expected = format_rows(
        [
            (key, y_true, y_pred, abs(y_true - y_pred), model, version, sent_at, joined_at)
            for key, y_true, y_pred, model, version, sent_at, joined_at in batch
        ]
    )
    text = metric_lines(joined_of(batch))
    assert list(csv.reader(io.StringIO(text, newline=""))) == list(
        csv.reader(io.StringIO(expected, newline=""))
    )
    for row in csv.reader(io.StringIO(text, newline="")):
        assert float(row[3]) == abs(float(row[1]) - float(row[2]))


def test_plain_ids_take_the_fast_path() -> None:
    """Ordinary ids produce one plain line per pair."""
    joined = joined_of([("run-1", 151.0, 140.5, "m", "1", None, 5.0)])
    assert metric_lines(joined) == "run-1,151.0,140.5,10.5,m,1,,5.0\n"
