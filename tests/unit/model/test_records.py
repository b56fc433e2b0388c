"""Named bodies to feature columns, and predictions back to record bodies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlmon.model.frame import Prediction
from mlmon.model.records import ColumnKinds, answers, columns_of

NAMES = ("length", "island")


def test_columns_keep_missing_values_and_ignore_extra_features() -> None:
    bodies = [
        {"length": 40.5, "island": "Dream", "extra": 1.0},
        {"length": None, "island": None},
        {"length": 3, "island": "Biscoe"},
    ]
    columns, usable, bad = columns_of(bodies, NAMES, ColumnKinds())
    assert (usable, bad) == ([0, 1, 2], {})
    assert columns["island"].tolist() == ["Dream", None, "Biscoe"]
    assert columns["length"].dtype == np.float64
    assert columns["length"][0] == 40.5
    assert math.isnan(columns["length"][1])
    assert set(columns) == set(NAMES)


def test_records_lacking_a_feature_or_of_the_wrong_kind_are_refused_alone() -> None:
    kinds = ColumnKinds({"length": False, "island": True})
    bodies = [
        {"length": 1.0, "island": "Dream"},
        {"length": 1.0},
        {"length": "long", "island": "Dream"},
        {"length": 2.0, "island": 7.0},
    ]
    columns, usable, bad = columns_of(bodies, NAMES, kinds)
    assert usable == [0]
    assert bad == {
        1: "lacks feature(s) 'island' the model takes (send null for missing)",
        2: "feature 'length' is 'long'; the model takes numbers there",
        3: "feature 'island' is 7.0; the model takes categories (strings) there",
    }
    assert columns["length"].tolist() == [1.0]


def test_unknown_kinds_follow_the_majority_and_are_learned_from_real_values() -> None:
    kinds = ColumnKinds()
    bodies = [
        {"length": 1.0, "island": "A"},
        {"length": 2.0, "island": "B"},
        {"length": "x", "island": "C"},
    ]
    _, usable, bad = columns_of(bodies, NAMES, kinds)
    assert usable == [0, 1]
    assert list(bad) == [2]
    kinds.learn({"length": np.array([np.nan]), "island": np.array([None], dtype=object)})
    assert kinds.categorical == {}  # nothing but missing values says nothing
    kinds.learn({"length": np.array([1.0]), "island": np.array(["A"], dtype=object)})
    assert kinds.categorical == {"length": False, "island": True}


def test_answers_carry_labels_and_scores_by_class_text() -> None:
    prediction = Prediction(
        np.array(["Adelie", "Gentoo"], dtype=object),
        np.array([[0.9, 0.1], [0.2000004, 0.7999996]]),
    )
    assert answers(prediction, ("Adelie", "Gentoo")) == [
        ("Adelie", {"Adelie": 0.9, "Gentoo": 0.1}),
        ("Gentoo", {"Adelie": 0.2, "Gentoo": 0.8}),
    ]
    numeric = Prediction(np.array([1, 0], dtype=object), np.array([[0.3, 0.7], [0.6, 0.4]]))
    assert answers(numeric, (0, 1)) == [(1.0, {"0": 0.3, "1": 0.7}), (0.0, {"0": 0.6, "1": 0.4})]
    assert answers(Prediction(np.array([2.5])), None) == [(2.5, None)]


def test_a_column_of_missing_values_is_tried_as_categories_when_numbers_fail() -> None:
    """A lone record whose categorical feature is missing: its column has no value to tell the
    kind; a model that takes strings there gets None after it refused NaN."""
    from mlmon.model.records import predict_either_way

    class TakesText:
        def predict_columns(self, columns: dict[str, np.ndarray]) -> Prediction:
            if columns["island"].dtype != object:
                raise TypeError("feature 'island' holds numbers; the model takes categories")
            return Prediction(np.array(["Adelie"], dtype=object))

    columns = {"length": np.array([40.0]), "island": np.array([np.nan])}
    prediction, taken = predict_either_way(TakesText(), columns, ColumnKinds())
    assert prediction.values.tolist() == ["Adelie"]
    assert taken["island"].tolist() == [None]
    known = ColumnKinds({"island": False})  # said numeric before: the error stands
    with pytest.raises(TypeError):
        predict_either_way(TakesText(), columns, known)
