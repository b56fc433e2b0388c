"""The metric log's fast row formatting matches the csv module exactly."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
from hypothesis import example, given
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


plain = st.text("abcXYZ019-_.", min_size=1, max_size=8)
batch_rows = st.lists(st.tuples(plain, finite, finite), min_size=1, max_size=6)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("one"), rows),
        st.tuples(
            st.just("batch"),
            st.tuples(batch_rows, plain, plain, st.none() | finite, st.booleans(), finite),
        ),
    ),
    max_size=6,
)


@given(steps)
@example(
    [("one", ("0", 0.0, 0.0, "", "", None, 0.0)), ("one", ("0", 0.0, 0.0, "", "", None, -0.0))]
)
def test_batches_and_single_pairs_write_exactly_what_the_generic_formatter_writes(
    ops: list[tuple[str, Any]],
) -> None:
    """Whatever mix of one-by-one pairs and whole batches (sharing their send time or not),
    the lines are byte for byte the generic formatter's."""
    joined, expected = Joined(), []
    for kind, op in ops:
        if kind == "one":
            key, y_true, y_pred, model, version, sent_at, joined_at = op
            joined.append(
                key, (y_true, sent_at, joined_at), (model, version, y_pred, None, 0), joined_at
            )
            expected.append((key, y_true, y_pred, abs(y_true - y_pred), model, version, sent_at,
                             joined_at))  # fmt: skip
            continue
        pairs, model, version, sent, uniform, joined_at = op
        keys = [key for key, _, _ in pairs]
        y_true = np.array([t for _, t, _ in pairs])
        y_pred = np.array([p for _, _, p in pairs])
        stamps = np.full(len(pairs), np.nan if sent is None else sent)
        if not uniform:
            stamps = stamps + np.arange(len(pairs))
        joined.extend(keys, y_true, y_pred, model, version, stamps, joined_at, 0.0)
        for key, t, p, s in zip(keys, y_true.tolist(), y_pred.tolist(), stamps.tolist(),
                                strict=True):  # fmt: skip
            expected.append((key, t, p, abs(t - p), model, version, None if s != s else s,
                             joined_at))  # fmt: skip
    assert metric_lines(joined) == format_rows(expected)
