"""The model service's Arrow path: a batch's rows answered in one Arrow batch, with their
features when the metric service's estimation needs them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

from mlmon.bus import Delivery
from mlmon.bus.topology import shard_of
from mlmon.model.estimator import EstimatorModel
from mlmon.model.records import ColumnKinds
from mlmon.services.model import _Message, _publishable
from mlmon.services.model_arrow import decode_arrow, predict_arrow
from mlmon.wire import HEADER_BATCH, Records, decode_records, record_key
from mlmon.wire.arrow import decode_values_arrow
from mlmon.wire.arrow_write import encode_features_arrow


def test_forwarded_features_travel_with_the_arrow_answers() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 1.0, 0.0, 1.0]})
    model = EstimatorModel("lin", "1", 2, LinearRegression().fit(frame, frame["a"]))
    body = encode_features_arrow(
        ["r1", "r2"], {"a": np.array([1.0, 2.0]), "b": np.array([0.0, 1.0])}
    )
    rejected: list[object] = []
    item = decode_arrow(Delivery("features", body, {}, False), rejected)  # type: ignore[arg-type]
    assert item is not None
    for forward in (False, True):
        (answer,), failed = predict_arrow(model, [item], {}, kinds=ColumnKinds(), forward=forward)
        assert not failed
        columns = decode_values_arrow(answer.body)
        if not forward:
            assert columns.features is None
            continue
        assert columns.features is not None
        np.testing.assert_array_equal(columns.features["a"], [1.0, 2.0])
        np.testing.assert_array_equal(columns.features["b"], [0.0, 1.0])


def test_unnamed_batches_are_answered_one_message_per_metric_shard() -> None:
    """A batch without a batch name (a producer other than mlmon's features service) may mix
    shards; its records' true values are routed one by one, so its answers are split by shard,
    Arrow and numeric batches alike. A named batch stays whole (its true values went whole)."""
    frame = pd.DataFrame({"a": np.arange(4.0), "b": np.zeros(4)})
    model = EstimatorModel("lin", "1", 2, LinearRegression().fit(frame, frame["a"]))
    ids = [f"r{i}" for i in range(40)]
    body = encode_features_arrow(ids, {"a": np.arange(40.0), "b": np.zeros(40)})
    rejected: list[object] = []
    item = decode_arrow(Delivery("features", body, {}, False), rejected)  # type: ignore[arg-type]
    assert item is not None
    answers, _ = predict_arrow(model, [item], {}, kinds=ColumnKinds(), workers=3)
    shards = [
        {shard_of(record_key(i), 3) for i in decode_values_arrow(a.body).ids} for a in answers
    ]
    assert all(len(s) == 1 for s in shards)
    assert len(answers) == len({s.pop() for s in shards}) > 1
    assert sorted(i for a in answers for i in decode_values_arrow(a.body).ids) == sorted(ids)

    records = Records(ids, np.ones((40, 10)), np.full(40, 1.7e9))
    message = _Message(Delivery("features", b"", {}, False), records, np.ones(40, dtype=bool))
    split, _ = _publishable(message, np.arange(40.0), {}, workers=3)
    decoded = [decode_records(m.body, m.content_type, False) for m in split]
    assert all(len({shard_of(record_key(i), 3) for i in d.ids}) == 1 for d in decoded)
    assert sorted(i for d in decoded for i in d.ids) == sorted(ids)
    named = _Message(Delivery("features", b"", {HEADER_BATCH: "b1"}, False), records,
                     np.ones(40, dtype=bool))  # fmt: skip
    whole, _ = _publishable(named, np.arange(40.0), {}, workers=3)
    assert len(whole) == 1


def test_a_whole_batch_passes_its_ids_and_tags_on_and_a_partial_one_rebuilds_them() -> None:
    """A batch with no refused row is answered with its own id and tags columns, whatever
    Arrow types a producer chose (int32 ids, tags as a struct); one with a refused row with
    those of its usable rows only. Either way the answer reads back as the rows' ids and
    tags."""
    import pyarrow as pa

    from mlmon.wire.arrow_write import _stream

    frame = pd.DataFrame({"a": np.arange(4.0)})
    model = EstimatorModel("lin", "1", 1, LinearRegression().fit(frame, frame["a"]))
    tags = pa.StructArray.from_arrays(
        [pa.array(["eu", "us", "eu"]), pa.array(["tv", None, "ios"])], names=["region", "dev"]
    )
    for null_body, kept in (([False] * 3, [0, 1, 2]), ([False, True, False], [0, 2])):
        features = pa.StructArray.from_arrays(
            [pa.array([1.0, 2.0, 3.0])], names=["a"], mask=pa.array(null_body)
        )
        body = _stream(
            {
                "id": pa.array([7, 8, 9], type=pa.int32()),
                "body": features,
                "tags": tags,
            }
        )
        rejected: list[object] = []
        delivery = Delivery("features", body, {}, False)
        item = decode_arrow(delivery, rejected)  # type: ignore[arg-type]
        assert item is not None
        assert len(rejected) == 3 - len(kept)
        (answer,), failed = predict_arrow(model, [item], {}, kinds=ColumnKinds())
        assert not failed
        columns = decode_values_arrow(answer.body)
        written = pa.ipc.open_stream(answer.body).read_all()
        passed_on = len(kept) == 3  # the producer's own columns, not rebuilt
        assert written.column("id").type == (pa.int32() if passed_on else pa.int64())
        assert pa.types.is_struct(written.column("tags").type) == passed_on
        assert columns.ids == [[7, 8, 9][i] for i in kept]
        expected = [{"region": "eu", "dev": "tv"}, {"region": "us"}, {"region": "eu", "dev": "ios"}]
        assert list(columns.tags or []) == [expected[i] for i in kept]
        np.testing.assert_allclose(np.asarray(columns.values), [[1.0, 2.0, 3.0][i] for i in kept])
