"""Reading a classifier's metric log: class labels as text (one with a comma, CSV-quoted),
scores and tags as quoted JSON objects, and the older eight-column layout."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mlmon.metric_log import fields
from mlmon.metric_log.reader import MetricLogReader
from mlmon.wire.labels import label_code, label_text
from tests.unit.metric_log.sample_log import HEADER, KeptRows, append

FULL_HEADER = "id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at,scores,tags\n"
ASKED = ("y_true", "y_pred", "joined_at", "scores", "tags")
LOG = (
    FULL_HEADER
    + "a,Adelie,Adelie,0.0,forest,1,100.0,101.0,"
    + '"{""Adelie"":0.91,""Chinstrap"":0.06,""Gentoo"":0.03}","{""region"":""eu""}"\n'
    + "b,Gentoo,Chinstrap,1.0,forest,1,100.0,102.0,"
    + '"{""Adelie"":0.1,""Chinstrap"":0.6,""Gentoo"":0.3}",\n'
    + 'c,"Gentoo, juvenile",Gentoo,1.0,forest,1,100.0,103.0,,'
    + '"{""region"":""us"",""site"":""x,y""}"\n'
    + "d,2,2,0.0,forest,1,,104.0,,\n"
)


def test_text_labels_quoted_scores_and_tags(log_path: Path, rows: KeptRows) -> None:
    log_path.write_text(LOG)
    reader = MetricLogReader(log_path, rows, extra=ASKED)
    assert reader.poll() == 4
    assert reader.skipped == reader.unreadable_scores == 0
    (block,) = rows.blocks
    y_true, y_pred = block.column("y_true"), block.column("y_pred")
    assert [label_text(v) for v in y_true[:3]] == ["Adelie", "Gentoo", "Gentoo, juvenile"]
    assert y_true[0] == label_code("Adelie") == y_pred[0]
    assert (y_true[3], y_pred[3]) == (2.0, 2.0)  # a numeric class stays its number
    assert block.errors.tolist() == [0.0, 1.0, 1.0, 0.0]
    assert block.column("joined_at").tolist() == [101.0, 102.0, 103.0, 104.0]
    assert block.scores is not None
    assert [label_text(c) for c in block.scores.classes] == ["Adelie", "Chinstrap", "Gentoo"]
    np.testing.assert_array_equal(block.scores.values[1], [0.1, 0.6, 0.3])
    assert block.scored().tolist() == [True, True, False, False]
    assert block.classified().tolist() == [True, True, True, False]
    assert block.tags is not None
    assert block.tags.rows() == ({"region": "eu"}, None, {"region": "us", "site": "x,y"}, None)


def test_unquoted_text_labels_stay_on_the_numpy_path(
    log_path: Path, rows: KeptRows, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Labels without commas or quotes, and empty scores and tags: no csv module needed."""

    def refuse(*_: object) -> None:
        raise AssertionError("the csv path was taken")

    monkeypatch.setattr(fields, "parse_slow", refuse)
    lines = [
        f"k{i},{t},{p},{float(t != p)},m,1,1.0,{i}.5,,\n"
        for i, (t, p) in enumerate(
            [("Adelie", "Adelie"), ("Gentoo", "Adelie"), ("Chinstrap", "Chinstrap"), ("1", "0")]
        )
    ]
    log_path.write_text(FULL_HEADER + "".join(lines))
    reader = MetricLogReader(log_path, rows, extra=ASKED)
    assert reader.poll() == 4
    (block,) = rows.blocks
    assert [label_text(v) for v in block.column("y_pred")[:3]] == ["Adelie"] * 2 + ["Chinstrap"]
    assert block.column("y_true")[3] == 1.0
    assert block.scores is not None
    assert not block.scored().any()
    assert block.tags is not None
    assert block.tags.rows() == (None,) * 4
    assert block.classified().tolist() == [True, True, True, False]


def test_both_parsers_give_the_same_rows(tmp_path: Path) -> None:
    """The block read by the csv module (it has quotes) and the same rows without the quoted
    cells read by numpy: one set of labels, errors and times."""
    quoted, plain = tmp_path / "quoted.csv", tmp_path / "plain.csv"
    body = "".join(
        f"k{i},{t},{p},{float(t != p)},m,1,,{i}.0,SCORES,\n"
        for i, (t, p) in enumerate([("Adelie", "Gentoo"), ("7", "Gentoo"), ("Gentoo", "7")])
    )
    quoted.write_text(FULL_HEADER + body.replace("SCORES", '"{""Gentoo"":1}"'))
    plain.write_text(FULL_HEADER + body.replace("SCORES", ""))
    kept = {}
    for path in (quoted, plain):
        kept[path] = KeptRows()
        MetricLogReader(path, kept[path], extra=ASKED).poll()
    for name in ("y_true", "y_pred", "joined_at"):
        np.testing.assert_array_equal(kept[quoted].column(name), kept[plain].column(name))
    np.testing.assert_array_equal(kept[quoted].errors, kept[plain].errors)
    assert kept[quoted].blocks[0].scored().all()
    assert not kept[plain].blocks[0].scored().any()


def test_an_eight_column_log_with_text_labels(log_path: Path, rows: KeptRows) -> None:
    """The layout before scores and tags: labels read, no scores, no tags."""
    log_path.write_text(
        HEADER
        + "a,Adelie,Gentoo,1.0,forest,1,100.0,101.0\n"
        + '"b,1","Gentoo, juvenile",Gentoo,1.0,forest,1,100.0,102.0\n'
    )
    reader = MetricLogReader(log_path, rows, extra=ASKED)
    assert reader.poll() == 2
    (block,) = rows.blocks
    assert [label_text(v) for v in block.column("y_true")] == ["Adelie", "Gentoo, juvenile"]
    assert block.scores is not None
    assert block.scores.classes == ()
    assert not block.scored().any()
    assert block.tags is not None
    assert block.tags.rows() == (None, None)
    assert block.classified().all()


def test_rows_left_out_take_their_scores_and_tags_with_them(log_path: Path, rows: KeptRows) -> None:
    """A row whose error is not finite is skipped: the scores and tags stay aligned."""
    log_path.write_text(LOG.replace("b,Gentoo,Chinstrap,1.0,", "b,Gentoo,Chinstrap,nan,"))
    reader = MetricLogReader(log_path, rows, extra=ASKED)
    assert reader.poll() == 3
    assert reader.skipped == 1
    (block,) = rows.blocks
    assert block.scores is not None
    assert block.scored().tolist() == [True, False, False]
    assert block.tags is not None
    assert block.tags.rows() == ({"region": "eu"}, {"region": "us", "site": "x,y"}, None)
    append(log_path, 'e,Adelie,Adelie,0.0,forest,1,,105.0,"{""Adelie"":""x""}",\n')
    reader.poll()
    assert reader.unreadable_scores == 1
    assert not rows.blocks[-1].scored().any()


def test_a_sink_that_asks_for_nothing_more_gets_no_scores(log_path: Path, rows: KeptRows) -> None:
    log_path.write_text(LOG)
    MetricLogReader(log_path, rows).poll()
    block = rows.blocks[0]
    assert block.scores is None
    assert block.tags is None
    assert not block.scored().any()
    assert math.isnan(block.column("y_true")[0])  # not asked for
