"""The model service's single-record path: one model call, each record answered alone."""

from __future__ import annotations

import math

import numpy as np

from mlmon.bus import Delivery
from mlmon.services.model import _decode, _predict_singles
from mlmon.wire import HEADER_SENT_AT, decode_value, encode_features


class Picky:
    """Predicts the first feature; fails on a vector starting with 13, NaN for 7."""

    name, version, n_features = "picky", "1", 3
    task, feature_names, classes = "regression", None, None

    def predict(self, features: np.ndarray) -> np.ndarray:
        if (features[:, 0] == 13).any():
            raise ValueError("unlucky")
        return np.where(features[:, 0] == 7, math.nan, features[:, 0])


def delivery(record_id: str, vector: list[float], sent_us: int | None = None) -> Delivery:
    headers = {} if sent_us is None else {HEADER_SENT_AT: sent_us}
    return Delivery("features", encode_features(record_id, vector), headers, False)


def test_each_single_record_gets_its_own_answer_or_its_own_dead_letter() -> None:
    batch = [
        delivery("a", [1.0, 0, 0], sent_us=1_500_000),
        delivery("short", [1.0, 0]),
        delivery("nan", [7.0, 0, 0]),
        delivery("boom", [13.0, 0, 0]),
        delivery("b", [2.0, 0, 0]),
        Delivery("features", b'{"id": "x", "body": [NaN, 1, 1]}', {}, False),
    ]
    messages, singles, named, _, rejected = _decode(batch, Picky(), 1 << 20)  # type: ignore[arg-type]
    assert named == []
    assert messages == []
    outgoing, failed = _predict_singles(Picky(), singles, {"x-mlmon-model": "picky"})  # type: ignore[arg-type]
    answers = {decode_value(m.body).id: (decode_value(m.body).value, m.headers) for m in outgoing}
    assert answers == {
        "a": (1.0, {"x-mlmon-model": "picky", HEADER_SENT_AT: 1_500_000}),
        "b": (2.0, {"x-mlmon-model": "picky"}),
    }
    reasons = {r.body: r.reason for r in [*rejected, *failed]}
    assert reasons[batch[1].body] == "record 'short': vector has 2 features, the model takes 3"
    assert reasons[batch[2].body] == "record 'nan': the model predicted nan"
    assert reasons[batch[3].body].startswith("record 'boom': the model failed: ValueError")
    assert "NaN" in reasons[batch[5].body]
    assert len(reasons) == 4  # each dead-lettered once, as it came (the seeds' form)


def test_a_model_answering_with_the_wrong_number_of_predictions_fails_its_records() -> None:
    class Short:
        name, version, n_features = "short", "1", 3

        def predict(self, features: np.ndarray) -> np.ndarray:
            return features[:-1, 0]  # one prediction too few

    pair = [delivery("a", [1.0, 0, 0]), delivery("b", [2.0, 0, 0])]
    _, singles, _, _, _ = _decode(pair, Picky(), 1 << 20)  # type: ignore[arg-type]
    outgoing, failed = _predict_singles(Short(), singles, {})  # type: ignore[arg-type]
    assert outgoing == []
    assert [r.reason for r in failed] == [
        "record 'a': the model failed: ValueError('0 predictions for 1 vectors')",
        "record 'b': the model failed: ValueError('0 predictions for 1 vectors')",
    ]


def test_a_model_failing_on_one_row_of_several_batches_fails_that_row_alone() -> None:
    """The batch path's search: message by message, then row by row."""
    from mlmon.services.model import _predict
    from mlmon.wire import BATCH, decode_batch, encode_batch

    def batch(ids: list[str], firsts: list[float]) -> Delivery:
        vectors = np.array([[first, 0, 0] for first in firsts])
        return Delivery(
            "features", encode_batch(ids, vectors, np.zeros(len(ids))), {}, False, BATCH
        )

    messages, singles, _, _, rejected = _decode(
        [batch(["a", "b"], [1.0, 2.0]), batch(["c", "boom", "d"], [3.0, 13.0, 4.0])],
        Picky(),  # type: ignore[arg-type]
        1 << 20,
    )
    assert singles == []
    assert rejected == []
    outgoing, failed = _predict(Picky(), messages, {})  # type: ignore[arg-type]
    answered = {}
    for message in outgoing:
        records = decode_batch(message.body)
        answered.update(zip(records.ids, records.values.tolist(), strict=True))
    assert answered == {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    assert [r.reason.split(":")[0] for r in failed] == ["record 'boom'"]
