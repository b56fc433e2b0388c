"""Label, scores and tags cells: text labels become their codes, JSON objects a score matrix
and dicts; whatever is not one of those is no score and no tag, not an error."""

from __future__ import annotations

import math
from typing import Any
from unittest.mock import patch

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mlmon.metric_log import cells as cells_module
from mlmon.metric_log.cells import (
    LABEL_CODE_CEILING,
    ScoreMatrix,
    is_label_code,
    label_value,
    label_values,
    parse_scores,
    parse_tags,
)
from mlmon.wire.labels import label_code, label_text


def test_label_cells_are_numbers_or_codes() -> None:
    assert label_value("2") == 2.0
    assert label_value("151.5") == 151.5
    assert math.isnan(label_value(""))
    assert label_value("nan") == label_code("nan")  # as the writer took it: a label, not NaN
    code = label_value("Adelie")
    assert code == label_code("Adelie") <= LABEL_CODE_CEILING
    assert label_text(code) == "Adelie"
    cells = np.array([b"Adelie", b"2", b"", b"Adelie", b"Gentoo"])
    values = label_values(cells)
    assert values[0] == values[3] == code
    assert values[1] == 2.0
    assert math.isnan(values[2])
    assert is_label_code(values).tolist() == [True, False, False, True, True]


def test_scores_become_a_matrix_with_a_column_per_class() -> None:
    scores = parse_scores(
        [
            '{"Adelie": 0.91, "Chinstrap": 0.06, "Gentoo": 0.03}',
            "",
            '{"Gentoo": 1}',
            b'{"Chinstrap": 0.5, "Adelie": 0.5}',
        ]
    )
    assert scores.classes == tuple(label_code(n) for n in ("Adelie", "Chinstrap", "Gentoo"))
    assert scores.scored().tolist() == [True, False, True, True]
    np.testing.assert_array_equal(scores.values[0], [0.91, 0.06, 0.03])
    np.testing.assert_array_equal(scores.values[2], [0.0, 0.0, 1.0])  # unnamed: 0
    np.testing.assert_array_equal(scores.values[3], [0.5, 0.5, 0.0])
    assert scores.unreadable == 0
    aligned = scores.aligned(
        (label_code("Gentoo"), 7.0, label_code("Adelie"), label_code("Chinstrap"))
    )
    np.testing.assert_array_equal(aligned[0], [0.03, 0.0, 0.91, 0.06])
    assert np.isnan(aligned[1]).all()


def test_numeric_classes_in_scores_are_their_numbers() -> None:
    scores = parse_scores(['{"0": 0.2, "1": 0.8}', '{"1.0": 0.3, "0": 0.7}'])
    assert scores.classes == (0.0, 1.0)
    np.testing.assert_array_equal(scores.values, [[0.2, 0.8], [0.7, 0.3]])


def test_cells_that_are_no_scores_are_rows_without_and_counted() -> None:
    bad = [
        "[0.5, 0.5]",
        "{not json",
        '{"a": "high"}',
        '{"a": 1.5}',
        '{"a": -0.1}',
        "{}",
        '{"a": 0, "b": 0}',
        '{"a": true}',
        '{"a": NaN}',
    ]
    scores = parse_scores(["", *bad])
    assert not scores.scored().any()
    assert scores.unreadable == len(bad)
    empty = ScoreMatrix.empty(3)
    assert (len(empty), empty.classes, empty.scored().tolist()) == (3, (), [False] * 3)


def test_tags_are_dicts_of_strings() -> None:
    cells = ['{"region": "eu", "site": "x,y"}', "", "{oops", '{"n": 1}', "[1]"]
    tags = parse_tags([*cells, cells[0]])
    assert tags.rows() == ({"region": "eu", "site": "x,y"}, None, None, None, None, tags.rows()[0])
    assert len(tags.distinct) == 1  # a repeated cell is parsed once


def test_the_reader_takes_numbers_by_the_writers_rule() -> None:
    """Text the metric service coded as a label ("+1", " 1", "nan") reads back as that label,
    not as a number; a number as the writer formats it reads as the number."""
    from mlmon.metric_log.cells import label_value
    from mlmon.wire.labels import label_code

    assert label_value("1.5") == 1.5
    assert label_value("-2.0e-05") == -2e-05
    for text in ("+1", " 1", "nan", "inf"):
        assert label_value(text) == label_code(text)
        assert label_value(text) < -(2.0**52)


a_score = st.sampled_from(["0.25", "0", "1", "0.0", "1e-06", "1.5", "-0.1", "true", "null", '"x"'])
a_score_cell = st.lists(a_score, min_size=2, max_size=2).map(
    lambda pair: '{"Adelie":%s,"1":%s}' % tuple(pair)  # noqa: UP031 - JSON braces
)
ODD_CELLS = ['{"1":0.5,"Adelie":0.5}', '{"1.0":0.5,"1":0.5}', "{}", "", "[1]", "1,2"]
ODD_CELLS += ['{"Adelie":0.5}', "not json", '{"Adelie":0.5,"1":0.5']
an_odd_cell = st.sampled_from(ODD_CELLS)


@given(st.lists(a_score_cell | an_odd_cell, max_size=6), st.booleans())
def test_cells_of_one_classifier_parse_as_cell_by_cell(cells: list[str], as_bytes: bool) -> None:
    """The one-call path for cells of the same classes (`_uniform_scores`) gives exactly what
    reading cell by cell gives, whatever the cells hold: probabilities out of [0, 1], true,
    null, text, zeros only, keys in another order, one class twice, broken JSON."""
    given_cells: list[Any] = [c.encode() for c in cells] if as_bytes else cells
    fast = parse_scores(given_cells)
    with patch.object(cells_module, "_uniform_scores", lambda *_: None):
        slow = parse_scores(given_cells)
    assert fast.classes == slow.classes
    assert fast.unreadable == slow.unreadable
    np.testing.assert_array_equal(fast.values, slow.values)


def test_uniform_cells_take_the_one_call_path() -> None:
    cells = ['{"Adelie":0.25,"Gentoo":0.75}', '{"Adelie":0.0,"Gentoo":0.0}']
    fast = cells_module._uniform_scores(cells, True)
    assert fast is not None
    assert fast.unreadable == 1
    assert fast.values[0].tolist() == [0.25, 0.75]
    assert np.isnan(fast.values[1]).all()
