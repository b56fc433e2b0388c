"""The metric log's fast row formatting matches the csv module exactly."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from mlmon.join.joined import Joined
from mlmon.metric_log.append import format_rows as format_cells
from mlmon.metric_log.lines import extra_cells, extra_cells_columns, metric_lines
from mlmon.wire.labels import cell, label_code
from mlmon.wire.tag_rows import TagRows

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


def format_rows(rows: list[tuple[Any, ...]]) -> str:
    """The generic formatter's lines for rows of the first eight columns, with the empty
    scores and tags cells of a row that has neither."""
    return format_cells([(*row, None, None) for row in rows])


def joined_of(batch: list[Row]) -> Joined:
    joined = Joined()
    for key, y_true, y_pred, model, version, sent_at, joined_at in batch:
        joined.append(
            key, (y_true, sent_at, joined_at), (model, version, y_pred, None, 0, ""), joined_at
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
    assert metric_lines(joined) == "run-1,151.0,140.5,10.5,m,1,,5.0,,\n"


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
                key, (y_true, sent_at, joined_at), (model, version, y_pred, None, 0, ""), joined_at
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


# Every kind of value and name the CSV may meet, for the test below.
any_float = st.floats() | st.sampled_from(
    [0.0, -0.0, 1e-4, 9.999999999999999e-05, 1e16, 1e308, -1e308, 5e-324, 2.0**53, 1e15,
     math.inf, -math.inf, math.nan]
)  # fmt: skip
any_text = st.text(max_size=6) | st.sampled_from(
    ["a,b", 'q"', "x\\y", "é", "\x00", "\t", "\r", "\n", "ü\u2028", " "]
)
any_key = st.text(min_size=1, max_size=8) | st.sampled_from(["k\\1", "naïve", "\x01", "a,b", '"'])
plain_ish = st.text("abcé\\\t \x01019", min_size=1, max_size=5)
a_pair = st.tuples(
    st.just("pair"),
    st.tuples(any_key, any_float, any_float, any_text, any_text, st.none() | any_float,
              st.none() | any_float, finite),
)  # fmt: skip
a_batch = st.tuples(
    st.just("batch"),
    st.tuples(
        st.lists(st.tuples(plain_ish | any_key, any_float, any_float, st.none() | any_float),
                 max_size=6),
        plain_ish | any_text, plain_ish | any_text,
        st.sampled_from(["one send", "unknown", "per row", "zeros"]), any_float, finite,
        st.booleans(),
    ),
)  # fmt: skip
a_seal = st.tuples(st.just("seal"), st.none())


def _read_only(values: np.ndarray) -> np.ndarray:
    """As a decoded message's columns come: views of bytes."""
    return np.frombuffer(np.ascontiguousarray(values, dtype="<f8").tobytes(), dtype="<f8")


@given(st.lists(a_pair | a_batch | a_seal, max_size=8), st.booleans())
@example(  # a batch sent at 0.0 and -0.0: equal, yet two texts
    [("batch", ([("a", 1.0, 1.0, None), ("b", 2.0, 2.0, None)], "m", "1", "zeros", 0.0, 5.0,
                False))],
    False,
)  # fmt: skip
def test_any_mix_writes_exactly_what_the_generic_formatter_writes(
    ops: list[tuple[str, Any]], classification: bool
) -> None:
    """Pairs and batches in any order, with non-finite and extreme values, names and ids that
    need quoting or hold backslashes and control characters, send times shared, unknown, per
    row or 0.0 and -0.0 mixed, read-only columns, in both modes: byte for byte the generic
    formatter's lines. (A NaN that comes as a send time is an unknown one: an empty cell.)"""
    joined, expected = Joined(), []

    def error(y_true: float, y_pred: float) -> float:
        return float(y_true != y_pred) if classification else abs(y_true - y_pred)

    for kind, op in ops:
        if kind == "seal":  # a reader in between: pairs after it start a new part
            joined.parts()
        elif kind == "pair":
            key, y_true, y_pred, model, version, truth_sent, prediction_sent, at = op
            prediction = (model, version, y_pred, prediction_sent, 0.0, "")
            joined.append(key, (y_true, truth_sent, at), prediction, at)
            sent = prediction_sent if prediction_sent is not None else truth_sent  # as append
            sent = None if sent is None or math.isnan(sent) else sent
            expected.append((key, y_true, y_pred, error(y_true, y_pred), model, version, sent,
                             at))  # fmt: skip
        else:
            rows, model, version, stamping, stamp, at, read_only = op
            keys = [row[0] for row in rows]
            y_true = np.array([row[1] for row in rows], dtype=np.float64)
            y_pred = np.array([row[2] for row in rows], dtype=np.float64)
            stamps = {
                "one send": np.full(len(rows), stamp),
                "unknown": np.full(len(rows), np.nan),
                "zeros": np.array([-0.0 if i % 2 else 0.0 for i in range(len(rows))]),
                "per row": np.array([np.nan if r[3] is None else r[3] for r in rows]),
            }[stamping].astype(np.float64)
            if read_only:
                y_true, y_pred, stamps = _read_only(y_true), _read_only(y_pred), _read_only(stamps)
            joined.extend(keys, y_true, y_pred, model, version, stamps, at, 0.0)
            for key, t, p, s in zip(keys, y_true.tolist(), y_pred.tolist(), stamps.tolist(),
                                    strict=True):  # fmt: skip
                expected.append((key, t, p, error(t, p), model, version,
                                 None if math.isnan(s) else s, at))  # fmt: skip
    with np.errstate(all="ignore"):
        lines = metric_lines(joined, classification)
    assert lines == format_rows(expected)


def test_column_wise_extra_cells_read_back_as_the_row_wise_ones() -> None:
    """Scores and tags cells built for a whole Arrow batch parse to the same JSON as one
    row's, a key with a quote and a comma included; rows with neither stay empty."""
    import json

    classes = ('say "hi", now', "b")
    scores = np.array([[0.25, 0.75], [np.nan, np.nan], [1e-06, 0.999999]])
    tags = [{"region": "eu"}, None, {"region": "eu"}]
    cells = extra_cells_columns(3, classes, scores, tags)
    assert cells[1] == ""
    for i in (0, 2):
        expected = extra_cells(dict(zip(classes, scores[i].tolist(), strict=True)), tags[i])
        got = next(iter(csv.reader(io.StringIO(cells[i]))))
        want = next(iter(csv.reader(io.StringIO(expected))))
        assert [json.loads(c) for c in got] == [json.loads(c) for c in want]


# Class labels (one that needs quoting) and the scores and tags cells a classifier's rows carry.
LABELS = ("Adelie", "Gentoo", "a,b", 'say "hi"', "7b")
EXTRAS = ("", '"{""Adelie"":0.25,""Gentoo"":0.75}",', ',"{""region"":""eu""}"',
          '"{""a"":1.0}","{""d"":""x,y""}"')  # fmt: skip
a_value = st.sampled_from(LABELS) | finite
a_labelled_batch = st.tuples(
    st.lists(st.tuples(plain_ish, a_value, a_value, st.sampled_from(EXTRAS)), max_size=6),
    plain_ish, plain_ish, st.sampled_from(["one send", "per row"]), finite, finite,
    st.booleans(),
)  # fmt: skip


@given(st.lists(a_labelled_batch, min_size=1, max_size=4), st.booleans())
def test_labels_scores_and_tags_write_exactly_what_the_generic_formatter_writes(
    batches: list[tuple[Any, ...]], classification: bool
) -> None:
    """Batches and pairs with class labels (some needing quotes) and
    numbers mixed, scores and tags cells or none: the column-wise lines are byte for byte the
    generic formatter's."""
    joined, expected = Joined(), []

    def code(value: str | float) -> float:
        return label_code(value) if isinstance(value, str) else value

    for rows, model, version, stamping, stamp, at, as_pairs in batches:
        codes = [(code(t), code(p)) for _, t, p, _ in rows]
        stamps = [stamp if stamping == "one send" else stamp + i for i in range(len(rows))]
        extras = [row[3] for row in rows]
        if as_pairs:
            for (key, *_), (t, p), sent, extra in zip(rows, codes, stamps, extras, strict=True):
                joined.append(key, (t, None, at), (model, version, p, sent, 0.0, extra), at)
        else:
            joined.extend(
                [row[0] for row in rows], np.array([t for t, _ in codes]),
                np.array([p for _, p in codes]), model, version, np.array(stamps), at, 0.0,
                extras,
            )  # fmt: skip
        for (key, t, p, extra), (tc, pc), sent in zip(rows, codes, stamps, strict=True):
            labelled = (
                classification
                or isinstance(t, str)
                or isinstance(p, str)
                or (bool(extra) and extra[0] != ",")
            )
            error = float(tc != pc) if labelled else abs(tc - pc)
            line = format_cells([(key, cell(tc), cell(pc), error, model, version, sent, at)])
            expected.append(f"{line[:-1]},{extra or ','}\n")
    assert metric_lines(joined, classification) == "".join(expected)


@given(
    st.lists(st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3), min_size=1, max_size=8),
    st.sampled_from([("A", "B", "C"), ('q"x', "{b}", "c,d"), ("1", "2", "3")]),
)
def test_score_cells_of_whole_rows_are_the_row_wise_cells_byte_for_byte(
    rows: list[list[float]], classes: tuple[str, str, str]
) -> None:
    """Rows that score every class take the column-wise path: each cell byte for byte what one
    row's `extra_cells` writes (tiny and whole-number scores, braces and quotes in keys), and
    it reads back as exactly the scores."""
    import json

    scores = np.array(rows, dtype=np.float64)
    cells = extra_cells_columns(len(rows), classes, scores, None)
    for row, got in zip(rows, cells, strict=True):
        assert got == extra_cells(dict(zip(classes, row, strict=True)), None)
        cell = next(csv.reader([got]))[0]
        assert json.loads(cell) == dict(zip(classes, row, strict=True))


a_tag = st.text(max_size=6) | st.sampled_from(['a"b', "x,y", "line\nbreak", "\u2028", "{}"])


@given(
    st.lists(
        st.tuples(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=2), a_tag, a_tag),
        min_size=1,
        max_size=8,
    ),
    st.booleans(),
)
def test_whole_scores_and_tag_columns_make_the_row_wise_cells_byte_for_byte(
    rows: list[tuple[list[float], str, str]], scored: bool
) -> None:
    """Scores of every class and tags kept column-wise (`TagRows`) are built in one pass: each
    row's cells byte for byte the whole path's per-row ones (the tags as `extra_cells` writes
    them), whatever the text of a tag: quotes, commas, line breaks."""
    import json

    classes = ("A", 'q"x')
    tags = TagRows(("region", "de,vice"), [[r[1] for r in rows], [r[2] for r in rows]])
    scores = np.array([r[0] for r in rows], dtype=np.float64) if scored else None
    cells = extra_cells_columns(len(rows), classes, scores, tags)
    assert len(cells) == len(rows)
    for (values, region, device), got in zip(rows, cells, strict=True):
        row_tags = {"region": region, "de,vice": device}
        tag_cell = extra_cells(None, row_tags)  # "," then the tags cell
        if scores is None:
            assert got == tag_cell
            continue
        assert got == extra_cells(dict(zip(classes, values, strict=True)), row_tags)
        parsed = next(csv.reader(io.StringIO(got, newline="")))
        assert json.loads(parsed[1]) == row_tags
