"""Feature values as tags: missing values are a segment, the record's tags win, limits hold."""

from __future__ import annotations

import math

import numpy as np

from mlmon.wire.checks import MAX_TAG_CHARS, MAX_TAGS, check_tags
from mlmon.wire.segment_tags import MISSING_VALUE, feature_tag_rows, with_feature_tags


def test_values_become_tags_and_missing_ones_a_segment_of_their_own() -> None:
    features = {"island": "Dream", "sex": None, "mass": 3750.0, "bill": math.nan}
    tags = with_feature_tags({"region": "eu"}, features, ("island", "sex", "mass", "bill", "x"))
    assert tags == {
        "region": "eu",
        "island": "Dream",
        "sex": MISSING_VALUE,
        "mass": "3750.0",
        "bill": MISSING_VALUE,
        "x": MISSING_VALUE,  # absent from the record
    }


def test_the_records_own_tags_win_and_the_limits_hold() -> None:
    own = {f"t{i}": "v" for i in range(MAX_TAGS - 1)} | {"island": "mine"}
    long = "n" * (MAX_TAG_CHARS + 50)
    tags = with_feature_tags(
        own, {"island": "Dream", long: "x" * 500, "z": "z"}, ("island", long, "z")
    )
    assert tags is not None
    assert tags["island"] == "mine"
    assert len(tags) == MAX_TAGS
    assert check_tags(tags, b"") == tags  # what a decoder would accept


def test_columns_give_the_same_tags_as_rows() -> None:
    columns = {
        "island": np.array(["Dream", None, "Biscoe"], dtype=object),
        "sex": np.array([1.0, np.nan, 2.0]),
    }
    rows = feature_tag_rows([None, {"island": "x"}, None], columns, ("island", "sex"), 3)
    expected = [
        with_feature_tags(t, {"island": i, "sex": s}, ("island", "sex"))
        for t, i, s in zip(
            [None, {"island": "x"}, None],
            columns["island"].tolist(),
            columns["sex"].tolist(),
            strict=True,
        )
    ]
    assert rows == expected
    assert rows[1] == {"island": "x", "sex": MISSING_VALUE}


def test_no_segment_features_leave_tags_alone() -> None:
    assert with_feature_tags(None, {"a": 1}, ()) is None
    assert feature_tag_rows(None, {"a": [1, 2]}, (), 2) == [None, None]
