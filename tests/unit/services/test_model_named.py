"""The model service's named path, with a real scikit-learn model that cannot take missing
values: each record it cannot take is refused alone, with the reason; the others answered."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LinearRegression

from mlmon.bus import Delivery
from mlmon.model.estimator import EstimatorModel
from mlmon.model.records import ColumnKinds
from mlmon.services.metric.halves import Halves
from mlmon.services.model import forwards_features
from mlmon.services.model_named import Named, predict_named
from mlmon.settings import Settings
from mlmon.wire import HEADER_FEATURES_FOR, decode_features, decode_value


def _named(body: bytes) -> Named:
    return Named(Delivery("features", body, {}, False), decode_features(body), None)


def test_a_missing_value_the_model_cannot_take_is_refused_alone() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 1.0, 0.0, 1.0]})
    model = EstimatorModel(
        "lin", "1", 2, LinearRegression().fit(frame, 2 * frame["a"] + frame["b"])
    )
    items = [
        _named(b'{"id": 1, "body": {"a": 1.0, "b": 1.0}, "tags": {"r": "eu"}, "ts": 1700000000}'),
        _named(b'{"id": 2, "body": {"a": null, "b": 1.0}}'),
        _named(b'{"id": 3, "body": {"a": 2.0}}'),
        _named(b'{"id": 4, "body": {"a": 3.0, "b": 0.0, "unused": "x"}}'),
    ]
    outgoing, rejected = predict_named(model, items, {"x-mlmon-model": "lin"}, ColumnKinds())
    answers = {json.loads(m.body)["id"]: json.loads(m.body) for m in outgoing}
    assert set(answers) == {1, 4}
    assert abs(answers[1]["body"] - 3.0) < 1e-9
    assert answers[1]["tags"] == {"r": "eu"}
    assert answers[1]["ts"] == 1700000000
    assert abs(answers[4]["body"] - 6.0) < 1e-9
    reasons = sorted(r.reason for r in rejected)
    assert reasons[0].startswith("record 2: the model failed: ")
    assert "NaN" in reasons[0]
    assert reasons[1] == "record 3: lacks feature(s) 'b' the model takes (send null for missing)"
    assert all(r.body in {items[1].delivery.body, items[2].delivery.body} for r in rejected)


def test_segment_features_go_with_the_answers_tags() -> None:
    """MLMON_SEGMENT_FEATURES: the named values of those features become tags (a missing one
    "(missing)"); the record's own tag of the same name wins."""
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 1.0, 0.0, 1.0]})
    model = EstimatorModel("lin", "1", 2, LinearRegression().fit(frame, frame["a"]))
    items = [
        _named(b'{"id": 1, "body": {"a": 1.0, "b": 1.0, "island": "Dream"}}'),
        _named(b'{"id": 2, "body": {"a": 2.0, "b": 0.0, "island": null}, "tags": {"r": "eu"}}'),
        _named(b'{"id": 3, "body": {"a": 2.0, "b": 0.0}, "tags": {"island": "mine"}}'),
    ]
    outgoing, rejected = predict_named(model, items, {}, ColumnKinds(), segment=("island",))
    assert not rejected
    tags = {json.loads(m.body)["id"]: json.loads(m.body)["tags"] for m in outgoing}
    assert tags == {
        1: {"island": "Dream"},
        2: {"r": "eu", "island": "(missing)"},
        3: {"island": "mine"},
    }


def test_a_regressors_answers_carry_their_features_when_estimation_needs_them(
    tmp_path: Path,
) -> None:
    """With a reference (estimation on), mlmon's own regressor forwards each record's features
    with its prediction, marked so that the metric service leaves their drift to the model
    service; the metric estimates them. Without one, or for a classifier, nothing extra."""
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 1.0, 0.0, 1.0]})
    model = EstimatorModel("lin", "1", 2, LinearRegression().fit(frame, frame["a"]))
    assert not forwards_features(Settings(), model)
    assert forwards_features(Settings(reference=tmp_path / "ref.csv"), model)
    items = [_named(b'{"id": 1, "body": {"a": 1.0, "b": 1.0}}')]
    (plain,), _ = predict_named(model, items, {}, ColumnKinds())
    assert "features" not in json.loads(plain.body)
    (sent,), _ = predict_named(model, items, {}, ColumnKinds(), forward=True)
    assert json.loads(sent.body)["features"] == {"a": 1.0, "b": 1.0}
    delivery = Delivery("y_pred", sent.body, {HEADER_FEATURES_FOR: "estimation"}, False)
    halves = Halves()
    halves.add_one(delivery, decode_value(sent.body), None, "lin", "1")
    assert halves.feature_rows == []  # drift: the model service's
    assert halves.single_inputs == [(0, {"a": 1.0, "b": 1.0}, None)]  # estimation: here
