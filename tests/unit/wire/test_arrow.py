"""The Arrow batch form: round trips, every refused row with the single form's reason, malformed
streams, and a batch written by plain pyarrow code as a producer in another language would."""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlmon.errors import DecodeError
from mlmon.wire import decode_features, decode_value, record_key
from mlmon.wire import labels as wire_labels
from mlmon.wire.arrow import (
    RecordColumns,
    decode_features_arrow,
    decode_values_arrow,
    encode_features_arrow,
    encode_values_arrow,
    row_json,
)
from mlmon.wire.checks import MAX_FEATURE_NAME_CHARS, MAX_TAG_CHARS, MAX_TAGS
from mlmon.wire.labels import label_code

NOW = time.time()


def stream(
    columns: dict[str, Any], metadata: dict[str, str] | None = None, duplicate: str = ""
) -> bytes:
    """Columns (pyarrow arrays or plain lists) as one Arrow IPC stream, as any producer writes;
    `duplicate` names a column to write twice."""
    batch = pa.RecordBatch.from_pydict(columns)
    if duplicate:
        batch = batch.append_column(duplicate, batch.column(duplicate))
    if metadata:
        batch = batch.replace_schema_metadata(metadata)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue())


# --- round trips -------------------------------------------------------------------------


def test_named_features_round_trip_numbers_and_categories_with_missing() -> None:
    columns = {
        "age": np.array([31.0, np.nan, 54.5]),
        "city": np.array(["Oslo", None, "Lima"], dtype=object),
    }
    decoded = decode_features_arrow(encode_features_arrow(["a", "b", "c"], columns))
    assert decoded.ids == ["a", "b", "c"]
    assert decoded.values is None
    assert decoded.vector is None
    assert decoded.features is not None
    np.testing.assert_array_equal(decoded.features["age"], columns["age"])
    assert decoded.features["age"].dtype == np.float64
    assert decoded.features["city"].dtype == object
    assert decoded.features["city"].tolist() == ["Oslo", None, "Lima"]
    assert decoded.bad == {}
    assert len(decoded) == 3
    assert np.isnan(decoded.ts).all()
    assert decoded.tags is None


def test_vector_features_round_trip_as_a_matrix() -> None:
    matrix = np.arange(12, dtype=np.float64).reshape(4, 3)
    decoded = decode_features_arrow(encode_features_arrow([1, 2, 3, 4], matrix))
    assert decoded.ids == [1, 2, 3, 4]
    assert decoded.features is None
    np.testing.assert_array_equal(decoded.vector, matrix)


def test_numbers_labels_scores_tags_ts_model_version_round_trip() -> None:
    ts = [NOW - 5.0, None, NOW]
    tags = [{"region": "eu", "device": "ios"}, None, {"region": "us"}]
    scores = (np.array([[0.7, 0.3], [np.nan, np.nan], [0.2, 0.8]]), ["cat", "dog"])
    raw = encode_values_arrow(
        [10, 11, 12], ["cat", "2", "dog"], ts, tags, scores, "churn", ["1", "1", "2"]
    )
    decoded = decode_values_arrow(raw)
    assert decoded.bad == {}
    assert decoded.values is not None
    assert decoded.values.tolist() == [label_code("cat"), 2.0, label_code("dog")]
    np.testing.assert_array_equal(decoded.ts, np.array([NOW - 5.0, np.nan, NOW]))
    assert decoded.tags == tags
    assert decoded.classes == ("cat", "dog")
    np.testing.assert_array_equal(decoded.scores, scores[0])
    assert decoded.models == ["churn"] * 3
    assert decoded.versions == ["1", "1", "2"]


def test_label_codes_encode_back_to_their_text() -> None:
    """Decoded label codes re-encode as the labels, so a batch can be forwarded as it is."""
    first = decode_values_arrow(encode_values_arrow(["x", "y"], ["yes", "no"]))
    assert first.values is not None
    again = decode_values_arrow(encode_values_arrow(["x", "y"], first.values))
    assert again.values is not None
    assert again.values.tolist() == first.values.tolist()
    assert row_json(again, 1, "y_true") == b'{"id":"y","body":"no"}'


def test_prediction_features_and_scores_as_dicts() -> None:
    raw = encode_values_arrow(
        ["a", "b"],
        np.array([1.5, 2.5]),
        scores=[{"lo": 0.25, "hi": 0.75}, {"hi": 1.0, "lo": 0.0}],
        features={"x": np.array([1.0, 2.0]), "kind": np.array(["p", "q"], dtype=object)},
    )
    decoded = decode_values_arrow(raw)
    assert decoded.classes == ("lo", "hi")
    np.testing.assert_array_equal(decoded.scores, [[0.25, 0.75], [0.0, 1.0]])
    assert decoded.features is not None
    assert decoded.features["kind"].tolist() == ["p", "q"]
    assert decoded.models is None
    assert decoded.versions is None


@given(
    st.lists(
        st.tuples(
            st.one_of(st.integers(-(2**53), 2**53), st.text(min_size=1, max_size=20)),
            st.one_of(
                st.floats(allow_nan=False, allow_infinity=False),
                st.sampled_from(["cat", "dog", "bird"]),
            ),
            st.one_of(st.none(), st.floats(1.0, NOW)),
            st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
        ),
        min_size=1,
        max_size=30,
        unique_by=lambda row: record_key(row[0]),
    ),
    st.booleans(),
)
def test_round_trip_property(
    rows: list[tuple[int | str, float | str, float | None, float | None]], string_ids: bool
) -> None:
    """Any ids, numbers or labels, event times and a nullable feature survive encode/decode,
    and each row's `row_json` decodes with the single form to the same record."""
    ids: list[int | str] = [str(r[0]) if string_ids else r[0] for r in rows]
    if not string_ids and any(isinstance(i, str) for i in ids):
        ids = [str(i) for i in ids]
    values = [r[1] for r in rows]
    ts = [r[2] for r in rows]
    feature = np.array([np.nan if r[3] is None else r[3] for r in rows])
    decoded = decode_values_arrow(encode_values_arrow(ids, values, ts, features={"f": feature}))
    assert decoded.bad == {}
    assert decoded.ids == ids
    expected = [label_code(v) if isinstance(v, str) else float(v) for v in values]
    assert decoded.values is not None
    assert decoded.values.tolist() == expected
    np.testing.assert_array_equal(decoded.ts, np.array(ts, dtype=np.float64))
    assert decoded.features is not None
    np.testing.assert_array_equal(decoded.features["f"], feature)
    for index in range(len(rows)):
        single = decode_value(row_json(decoded, index, "y_pred"))
        assert record_key(single.id) == record_key(ids[index])
        assert single.value == expected[index]
        assert single.ts == ts[index]


def test_row_json_of_features_decodes_with_the_single_form() -> None:
    columns = {"a": np.array([1.0, np.nan]), "b": np.array([None, "z"], dtype=object)}
    decoded = decode_features_arrow(
        encode_features_arrow(["p", "q"], columns, ts=[NOW, None], tags=[{"t": "1"}, None])
    )
    first = decode_features(row_json(decoded, 0, "features"))
    assert (first.id, first.named, first.ts, first.tags) == (
        "p",
        {"a": 1.0, "b": None},
        NOW,
        {"t": "1"},
    )
    second = decode_features(row_json(decoded, 1, "features"))
    assert (second.named, second.ts, second.tags) == ({"a": None, "b": "z"}, None, None)
    vector = decode_features_arrow(encode_features_arrow([7], np.array([[0.5, 1.5]])))
    assert decode_features(row_json(vector, 0, "features")).vector == [0.5, 1.5]


def test_row_json_refuses_the_wrong_kind() -> None:
    decoded = decode_values_arrow(encode_values_arrow([1], [1.0]))
    with pytest.raises(ValueError, match="not a features message"):
        row_json(decoded, 0, "features")
    with pytest.raises(ValueError, match="kind must be one of"):
        row_json(decoded, 0, "x")  # type: ignore[arg-type]


# --- a batch written by plain pyarrow, as a producer in another language writes it --------


def test_a_hand_built_multi_batch_stream_decodes() -> None:
    """Two record batches, each with its own dictionaries; large_utf8 ids, an int64 body,
    timestamps in milliseconds with a time zone, tags as a struct of utf8, per-schema model."""
    label = pa.dictionary(pa.int8(), pa.utf8())
    schema = pa.schema(
        [
            pa.field("id", pa.large_utf8(), nullable=False),
            pa.field("body", label),
            pa.field("ts", pa.timestamp("ms", tz="UTC")),
            pa.field("tags", pa.struct([("region", pa.utf8()), ("device", pa.utf8())])),
            pa.field("scores", pa.struct([("spam", pa.float32()), ("ham", pa.float64())])),
            pa.field("extra", pa.int32()),  # unknown columns are ignored
        ],
        metadata={"model": "filter", "version": "3.1"},
    )
    ms = int(NOW * 1000)

    def batch(ids: list[str], bodies: list[str], tags: list[dict[str, str | None] | None]) -> Any:
        n = len(ids)
        return pa.record_batch(
            [
                pa.array(ids, pa.large_utf8()),
                pa.array(bodies).dictionary_encode().cast(label),
                pa.array([ms - 1000 * i for i in range(n)], pa.timestamp("ms", tz="UTC")),
                pa.array(tags, schema.field("tags").type),
                pa.array([{"spam": 0.5, "ham": 0.5}] * n, schema.field("scores").type),
                pa.array(range(n), pa.int32()),
            ],
            schema=schema,
        )

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(batch(["m1", "m2"], ["spam", "ham"], [{"region": "eu"}, None]))
        writer.write_batch(batch(["m3"], ["ham"], [{"region": "us", "device": "web"}]))
    decoded = decode_values_arrow(bytes(sink.getvalue()))
    assert decoded.bad == {}
    assert decoded.ids == ["m1", "m2", "m3"]
    assert decoded.values is not None
    assert decoded.values.tolist() == [label_code("spam"), label_code("ham"), label_code("ham")]
    np.testing.assert_allclose(decoded.ts, [ms / 1000, ms / 1000 - 1, ms / 1000], atol=1e-6)
    assert decoded.tags == [{"region": "eu"}, None, {"region": "us", "device": "web"}]
    assert decoded.classes == ("spam", "ham")
    assert decoded.models == ["filter"] * 3
    assert decoded.versions == ["3.1"] * 3
    assert row_json(decoded, 0, "y_pred").startswith(b'{"id":"m1","body":"spam","ts":')


def test_hand_built_features_with_a_list_body_and_nanosecond_timestamps() -> None:
    ns = int(NOW * 1e9)
    raw = stream(
        {
            "id": pa.array([1, 2], pa.int32()),
            "body": pa.array([[1.0, 2.0], [3.0, 4.0]], pa.list_(pa.float64())),
            "ts": pa.array([ns, None], pa.timestamp("ns")),
            "tags": pa.array([[("k", "v")], []], pa.map_(pa.utf8(), pa.utf8())),
        }
    )
    decoded = decode_features_arrow(raw)
    assert decoded.bad == {}
    np.testing.assert_array_equal(decoded.vector, [[1.0, 2.0], [3.0, 4.0]])
    assert decoded.ts[0] == pytest.approx(NOW, abs=1e-6)
    assert math.isnan(decoded.ts[1])
    assert decoded.tags == [{"k": "v"}, None]


def test_hand_built_named_features_of_every_type() -> None:
    body = pa.StructArray.from_arrays(
        [
            pa.array([1, None, 3], pa.int16()),
            pa.array([0.5, 1.5, None], pa.float32()),
            pa.array(["a", None, "a"]).dictionary_encode(),
            pa.array(["u", "v", None], pa.large_utf8()),
        ],
        names=["i", "f", "d", "s"],
        mask=pa.array([False, False, True]),
    )
    decoded = decode_features_arrow(stream({"id": ["x", "y", "z"], "body": body}))
    assert decoded.bad == {2: "body is null"}
    assert decoded.features is not None
    np.testing.assert_array_equal(decoded.features["i"], [1.0, np.nan, np.nan])
    np.testing.assert_array_equal(decoded.features["f"], [0.5, 1.5, np.nan])
    assert decoded.features["d"].tolist() == ["a", None, None]
    assert decoded.features["s"].tolist() == ["u", "v", None]


def test_all_null_optional_columns_are_absent() -> None:
    decoded = decode_values_arrow(
        stream({"id": [1], "body": [2.0], "ts": pa.nulls(1), "tags": pa.nulls(1)})
    )
    assert decoded.tags is None
    assert math.isnan(decoded.ts[0])


# --- every refused row, with the single form's reason ------------------------------------

FAR = NOW + 10 * 3600


def values(**columns: Any) -> bytes:
    return stream({"id": ["ok", "bad"], "body": [1.0, 2.0], **columns})


def scores(*rows: dict[str, float | None] | None) -> Any:
    kind = pa.struct([("a", pa.float64()), ("b", pa.float64())])
    return pa.array([{"a": 0.5, "b": 0.5}, *rows], kind)


BAD_VALUES: dict[str, tuple[bytes, str, bool]] = {
    "null id": (stream({"id": ["ok", None], "body": [1.0, 2.0]}), "id is null", False),
    "empty id": (stream({"id": ["ok", ""], "body": [1.0, 2.0]}), "empty id", True),
    "nan id": (stream({"id": [1.0, math.nan], "body": [1.0, 2.0]}), "non-finite id", False),
    "null body": (stream({"id": ["ok", "bad"], "body": [1.0, None]}), "body is null", False),
    "inf body": (
        stream({"id": ["ok", "bad"], "body": [1.0, math.inf]}),
        "non-finite value (NaN or Infinity)",
        False,
    ),
    "null label": (stream({"id": ["ok", "bad"], "body": ["a", None]}), "body is null", False),
    "empty label": (stream({"id": ["ok", "bad"], "body": ["a", ""]}), "empty class label", False),
    "nan ts": (values(ts=[NOW, math.nan]), "ts nan is not an epoch time in seconds", False),
    "negative ts": (values(ts=[NOW, -1.0]), "ts -1.0 is not an epoch time in seconds", True),
    "zero ts": (values(ts=[NOW, 0.0]), "ts 0.0 is not an epoch time in seconds", True),
    "future ts": (values(ts=[NOW, FAR]), " s in the future", True),
    "ms ts": (values(ts=[NOW, NOW * 1000]), "(milliseconds? ts is in epoch seconds)", True),
    "future timestamp": (
        values(ts=pa.array([int(NOW), int(FAR)], pa.timestamp("s"))),
        " s in the future",
        True,
    ),
    "too many tags (map)": (
        values(
            tags=pa.array(
                [[("a", "b")], [(f"t{i}", "v") for i in range(MAX_TAGS + 1)]],
                pa.map_(pa.utf8(), pa.utf8()),
            )
        ),
        f"{MAX_TAGS + 1} tags, more than {MAX_TAGS}",
        True,
    ),
    "too many tags (struct)": (
        values(
            tags=pa.StructArray.from_arrays(
                [pa.array([None, "v"]) for _ in range(MAX_TAGS + 1)],
                names=[f"t{i}" for i in range(MAX_TAGS + 1)],
            )
        ),
        f"{MAX_TAGS + 1} tags, more than {MAX_TAGS}",
        True,
    ),
    "long tag value": (
        values(
            tags=pa.array(
                [[("k", "v")], [("k", "v" * (MAX_TAG_CHARS + 1))]], pa.map_(pa.utf8(), pa.utf8())
            )
        ),
        f"longer than {MAX_TAG_CHARS} characters",
        True,
    ),
    "long tag name": (
        values(
            tags=pa.array(
                [[("k", "v")], [("k" * (MAX_TAG_CHARS + 1), "v")]], pa.map_(pa.utf8(), pa.utf8())
            )
        ),
        f"longer than {MAX_TAG_CHARS} characters",
        True,
    ),
    "long tag value (struct)": (
        values(tags=pa.StructArray.from_arrays([pa.array(["v", "v" * 101])], names=["k"])),
        f"longer than {MAX_TAG_CHARS} characters",
        True,
    ),
    "empty tag name": (
        values(tags=pa.array([[("k", "v")], [("", "v")]], pa.map_(pa.utf8(), pa.utf8()))),
        "a tag with an empty name",
        True,
    ),
    "empty tag name (struct)": (
        values(tags=pa.StructArray.from_arrays([pa.array([None, "v"])], names=[""])),
        "a tag with an empty name",
        True,
    ),
    "null tag value": (
        values(tags=pa.array([[("k", "v")], [("k", None)]], pa.map_(pa.utf8(), pa.utf8()))),
        "tag 'k' is null; tag values are strings",
        False,
    ),
    "score above 1": (
        values(scores=scores({"a": 1.5, "b": -0.5})),
        "score of class 'a' is 1.5, not a probability",
        True,
    ),
    "negative score": (
        values(scores=scores({"a": 1.0, "b": -0.01})),
        "score of class 'b' is -0.01, not a probability",
        True,
    ),
    "nan score": (
        values(scores=scores({"a": math.nan, "b": 1.0})),
        "score of class 'a' is nan, not a probability",
        False,
    ),
    "scores not summing to 1": (
        values(scores=scores({"a": 0.5, "b": 0.3})),
        "scores sum to 0.8, not 1 (within 0.01)",
        True,
    ),
    "a class left out": (
        values(scores=scores({"a": 0.6, "b": None})),
        "scores sum to 0.6, not 1",
        True,
    ),
    "empty scores": (
        values(scores=scores({"a": None, "b": None})),
        "scores is an empty object",
        False,  # row_json cannot tell an empty object from an absent one
    ),
    "nan named feature": (
        values(features=pa.StructArray.from_arrays([pa.array([1.0, math.nan])], names=["x"])),
        "features: 'x' is nan (send null for missing)",
        False,
    ),
}


@pytest.mark.parametrize("case", list(BAD_VALUES), ids=list(BAD_VALUES))
def test_a_bad_value_row_is_refused_alone_with_the_single_forms_reason(case: str) -> None:
    """The bad row alone is refused; dead-lettered as `row_json`, it says the same to the
    single decoder where JSON can carry the fault (not a NaN, a null or an emptied object)."""
    raw, reason, same_in_json = BAD_VALUES[case]
    decoded = decode_values_arrow(raw)
    assert list(decoded.bad) == [1], decoded.bad
    assert reason in decoded.bad[1]
    single = row_json(decoded, 1, "y_pred")
    assert {"id", "body"} <= json.loads(single).keys()  # readable JSON, whatever the fault
    if same_in_json:
        with pytest.raises(DecodeError) as caught:
            decode_value(single)
        # "... is N s in the future" reads the clock twice: a second may pass in between.
        assert _clock_free(caught.value.reason) == _clock_free(decoded.bad[1])
    decode_value(row_json(decoded, 0, "y_pred"))  # the good row stays good on its own


def _clock_free(reason: str) -> str:
    return re.sub(r"is \d+ s in the future", "is N s in the future", reason)


def test_too_many_distinct_labels_refuse_the_rows_of_the_new_label(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    label_code("known-label")
    monkeypatch.setattr(wire_labels, "MAX_LABELS", wire_labels.coded_here())
    decoded = decode_values_arrow(
        stream({"id": [1, 2, 3], "body": ["known-label", "brand-new-label", "known-label"]})
    )
    assert list(decoded.bad) == [1]
    assert "distinct class labels" in decoded.bad[1]


BAD_FEATURES: dict[str, tuple[Any, str]] = {
    "null vector": (pa.array([[1.0], None], pa.list_(pa.float64())), "body is null"),
    "short vector": (
        pa.array([[1.0, 2.0], [1.0]], pa.list_(pa.float64())),
        "features body has 1 values where the first row has 2",
    ),
    "empty vector": (pa.array([[1.0], []], pa.list_(pa.float64())), "features body is empty"),
    "nan in vector": (
        pa.array([[1.0], [math.nan]], pa.list_(pa.float64(), 1)),
        "non-finite number (NaN or Infinity) in features",
    ),
    "null in vector": (
        pa.array([[1.0], [None]], pa.list_(pa.float64())),
        "non-finite number (NaN or Infinity) in features",
    ),
    "inf named": (
        pa.StructArray.from_arrays([pa.array([1.0, -math.inf])], names=["x"]),
        "features body: 'x' is -inf (send null for missing)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FEATURES), ids=list(BAD_FEATURES))
def test_a_bad_features_row_is_refused_alone(case: str) -> None:
    body, reason = BAD_FEATURES[case]
    decoded = decode_features_arrow(stream({"id": ["ok", "bad"], "body": body}))
    assert decoded.bad == {1: reason}
    decode_features(row_json(decoded, 0, "features"))
    assert json.loads(row_json(decoded, 1, "features"))["id"] == "bad"


def test_the_first_reason_of_a_row_wins_in_the_single_forms_order() -> None:
    decoded = decode_values_arrow(
        stream({"id": ["a", ""], "body": [1.0, math.nan], "ts": [NOW, -1.0]})
    )
    assert decoded.bad == {1: "empty id"}


# --- malformed messages: the whole message is refused, naming the column ------------------

MALFORMED: dict[str, tuple[bytes, str]] = {
    "not arrow": (b'{"id": 1, "body": 2}', "malformed Arrow IPC stream"),
    "empty": (b"", "malformed Arrow IPC stream"),
    "truncated": (stream({"id": [1, 2], "body": [1.0, 2.0]})[:-20], "malformed Arrow"),
    "no id": (stream({"body": [1.0]}), "no 'id' column"),
    "no body": (stream({"id": [1]}), "no 'body' column"),
    "bool id": (stream({"id": [True], "body": [1.0]}), "column 'id': has type bool"),
    "null body column": (stream({"id": [1], "body": pa.nulls(1)}), "column 'body': is all null"),
    "bool body": (stream({"id": [1], "body": [True]}), "column 'body': has type bool"),
    "list body": (
        stream({"id": [1], "body": pa.array([[1.0]])}),
        "column 'body': has type list<item: double>",
    ),
    "string ts": (values(ts=["now", "then"]), "column 'ts': has type string"),
    "int tags": (
        values(tags=pa.array([[("k", 1)], []], pa.map_(pa.utf8(), pa.int64()))),
        "column 'tags': has type map<string, int64>",
    ),
    "list tags": (values(tags=[["a"], ["b"]]), "column 'tags'"),
    "string scores": (
        values(scores=pa.array([{"a": "x"}, None], pa.struct([("a", pa.utf8())]))),
        "column 'scores': has type struct<a: string>",
    ),
    "float scores": (values(scores=[0.5, 0.5]), "column 'scores': has type double"),
    "int model": (values(model=[1, 2]), "column 'model': has type int64"),
    "bool feature": (
        values(features=pa.StructArray.from_arrays([pa.array([True, False])], names=["x"])),
        "column 'features': feature 'x' has type bool",
    ),
    "duplicate columns": (
        stream({"id": [1], "body": [1.0]}, duplicate="body"),
        "two Arrow columns share a name",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_a_malformed_value_message_is_refused_whole(case: str) -> None:
    raw, reason = MALFORMED[case]
    with pytest.raises(DecodeError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        decode_values_arrow(raw)


MALFORMED_FEATURES: dict[str, tuple[Any, str]] = {
    "number body": (pa.array([1.0]), "column 'body': has type double; expected a struct"),
    "string vector": (pa.array([["a"]]), "column 'body': has type list<item: string>"),
    "empty struct": (pa.array([{}], pa.struct([])), "features body is an empty object"),
    "empty feature name": (
        pa.StructArray.from_arrays([pa.array([1.0])], names=[""]),
        "features body: a feature name that is empty or too long",
    ),
    "long feature name": (
        pa.StructArray.from_arrays([pa.array([1.0])], names=["f" * (MAX_FEATURE_NAME_CHARS + 1)]),
        "a feature name that is empty or too long",
    ),
    "zero-width vector": (pa.array([[]], pa.list_(pa.float64(), 0)), "features body is empty"),
    "duplicate feature": (
        pa.StructArray.from_arrays([pa.array([1.0]), pa.array([2.0])], names=["x", "x"]),
        "column 'body': two features share a name",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED_FEATURES), ids=list(MALFORMED_FEATURES))
def test_a_malformed_features_message_is_refused_whole(case: str) -> None:
    body, reason = MALFORMED_FEATURES[case]
    with pytest.raises(DecodeError) as caught:
        decode_features_arrow(stream({"id": ["r"], "body": body}))
    assert reason in caught.value.reason


def test_an_empty_stream_is_zero_records() -> None:
    schema = pa.schema([("id", pa.utf8()), ("body", pa.float64())])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema):
        pass
    decoded = decode_values_arrow(bytes(sink.getvalue()))
    assert isinstance(decoded, RecordColumns)
    assert len(decoded) == 0
    assert decoded.values is not None
    assert decoded.values.shape == (0,)


def test_encoders_refuse_what_one_arrow_column_cannot_hold() -> None:
    with pytest.raises(TypeError, match="all strings or all numbers"):
        encode_values_arrow(["a", 1], [1.0, 2.0])
    with pytest.raises(ValueError, match="shape"):
        encode_features_arrow([1, 2], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="scores of shape"):
        encode_values_arrow([1], [1.0], scores=(np.zeros((2, 2)), ["a", "b"]))


def test_per_row_model_nulls_take_the_metadata_and_null_features_rows_are_absent() -> None:
    raw = stream(
        {
            "id": [1, 2],
            "body": [0.5, 1.5],
            "model": ["a", None],
            "features": pa.array([[1.0, 2.0], None], pa.list_(pa.float64())),
        },
        metadata={"model": "batch-model", "version": "9"},
    )
    decoded = decode_values_arrow(raw)
    assert decoded.bad == {}
    assert decoded.models == ["a", "batch-model"]
    assert decoded.versions == ["9", "9"]
    np.testing.assert_array_equal(decoded.vector, [[1.0, 2.0], [np.nan, np.nan]])
    assert json.loads(row_json(decoded, 0, "y_pred"))["features"] == [1.0, 2.0]
    second = json.loads(row_json(decoded, 1, "y_pred"))
    assert second["model"] == "batch-model"
    assert "features" not in second


def test_tags_given_column_wise_read_back_as_the_rows_dicts() -> None:
    """Tags as one column per name (None: the row lacks it) encode to what one dict per row
    encodes: rows with some, all or none of the tags."""
    region = np.array(["eu", None, "us", None, "a,b"], dtype=object)
    device = np.array(["ios", "web", None, None, 'say "x"'], dtype=object)
    rows = [
        {name: value for name, value in (("region", r), ("device", d)) if value is not None} or None
        for r, d in zip(region, device, strict=True)
    ]
    ids = [f"t{i}" for i in range(5)]
    vector = np.zeros((5, 2))
    by_column = decode_features_arrow(
        encode_features_arrow(ids, vector, tags={"region": region, "device": device})
    )
    by_row = decode_features_arrow(encode_features_arrow(ids, vector, tags=rows))
    assert by_column.tags == by_row.tags
    assert by_column.tags == [
        {"region": "eu", "device": "ios"}, {"device": "web"}, {"region": "us"}, None,
        {"region": "a,b", "device": 'say "x"'},
    ]  # fmt: skip


@given(
    st.lists(
        st.tuples(st.text(max_size=5), st.sampled_from(["ios", 'we"b', "a\\b", "é", "{x}"])),
        min_size=1, max_size=12,
    )
)  # fmt: skip
def test_tags_of_the_same_names_decode_column_wise_and_read_as_the_rows_dicts(
    rows: list[tuple[str, str]],
) -> None:
    """A batch whose rows all name the same tags decodes them column-wise (`TagRows`): each
    row reads as its dict, they encode back to the same tags, and their log cells are byte for
    byte the row-wise ones."""
    from mlmon.metric_log.lines import extra_cells, extra_cells_columns
    from mlmon.wire.tag_rows import TagRows

    tags = [{"region": region, "de{v}ice": device} for region, device in rows]
    ids = [f"t{i}" for i in range(len(rows))]
    decoded = decode_features_arrow(encode_features_arrow(ids, np.zeros((len(rows), 1)), tags=tags))
    assert isinstance(decoded.tags, TagRows)
    assert decoded.tags == tags
    assert [decoded.tags[i] for i in range(len(rows))] == tags
    again = decode_features_arrow(
        encode_features_arrow(ids, np.zeros((len(rows), 1)), tags=decoded.tags)
    )
    assert again.tags == tags
    cells = extra_cells_columns(len(rows), (), None, decoded.tags)
    assert cells == [extra_cells(None, row) for row in tags]


def test_a_dataset_built_once_writes_what_the_per_batch_encoders_write() -> None:
    """`ArrowDataset`: a batch's rows taken from columns encoded once read back exactly as
    the same rows encoded on their own (categories with gaps, numbers with NaN, labels, tags
    with a row lacking one)."""
    from mlmon.wire.arrow import ArrowDataset

    columns = {
        "x": np.array([1.5, np.nan, 3.0, 4.25]),
        "island": np.array(["Dream", None, "Biscoe", "Dream"], dtype=object),
    }
    values = ["Adelie", "Gentoo", "Adelie", "Chinstrap"]
    tags = {"region": np.array(["eu", "us", None, "eu"], dtype=object)}
    table = ArrowDataset(columns, values, tags)
    rows = np.array([3, 1, 2])
    ids = ["a", "b", "c"]
    ts = np.full(3, 1.7e9)
    taken = {name: column[rows] for name, column in columns.items()}
    expected = decode_features_arrow(
        encode_features_arrow(ids, taken, ts=ts, tags={"region": tags["region"][rows]})
    )
    features_body, values_body = table.messages(ids, rows, ts)
    got = decode_features_arrow(features_body)
    assert got.ids == expected.ids
    assert got.tags == expected.tags == [{"region": "eu"}, {"region": "us"}, None]
    assert got.ts.tolist() == expected.ts.tolist()
    assert got.features is not None
    assert expected.features is not None
    np.testing.assert_array_equal(got.features["x"], expected.features["x"])  # NaN == NaN
    assert got.features["island"].tolist() == expected.features["island"].tolist()
    truth = decode_values_arrow(values_body)
    assert truth.values is not None
    assert [wire_labels.label_text(v) for v in truth.values.tolist()] == [
        "Chinstrap",
        "Gentoo",
        "Adelie",
    ]
