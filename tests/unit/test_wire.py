"""The wire contract: the seeds' JSON in, the seeds' JSON out, clear errors otherwise."""

from __future__ import annotations

import json
import math

import msgspec
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlmon.errors import DecodeError
from mlmon.wire import (
    BATCH,
    decode_batch,
    decode_features,
    decode_records,
    decode_value,
    encode_batch,
    encode_features,
    encode_value,
    record_key,
)

ids = st.one_of(
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(min_size=1, max_size=40),
)
finite = st.floats(allow_nan=False, allow_infinity=False)


@given(ids, st.lists(finite, min_size=1, max_size=20))
def test_features_round_trip(record_id: int | float | str, vector: list[float]) -> None:
    """Any id and finite vector survive encode then decode unchanged."""
    record = decode_features(encode_features(record_id, vector))
    assert record_key(record.id) == record_key(record_id)
    assert record.vector == vector


@given(ids, finite)
def test_value_round_trip(record_id: int | float | str, value: float) -> None:
    """Any id and finite value survive encode then decode unchanged."""
    record = decode_value(encode_value(record_id, value))
    assert record_key(record.id) == record_key(record_id)
    assert record.value == value


def test_seed_messages_are_accepted() -> None:
    """What the seeds publish with json.dumps decodes: timestamp ids, lists, one-element lists."""
    seed_features = json.dumps({"id": 1699541234.567, "body": [0.03, -0.04, 0.06]}).encode()
    assert decode_features(seed_features).vector == [0.03, -0.04, 0.06]
    assert decode_value(json.dumps({"id": 1699541234.567, "body": 151.0}).encode()).value == 151
    assert decode_value(json.dumps({"id": 7, "body": [206.1]}).encode()).value == 206.1


def test_our_messages_are_what_the_seeds_read() -> None:
    """A seed consumer doing json.loads(body)['id'] / ['body'] reads our messages."""
    message = json.loads(encode_features("run-1", [1.0, 2.5]))
    assert message == {"id": "run-1", "body": [1.0, 2.5]}
    assert json.loads(encode_value(3, 4.5)) == {"id": 3, "body": 4.5}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "malformed JSON"),
        (b'{"body": 1}', "id"),
        (b'{"id": 1}', "body"),
        (b'{"id": 1, "body": NaN}', "NaN"),
        (b'{"id": 1, "body": Infinity}', "NaN or Infinity"),
        (b'{"id": 1, "body": {"a": 1}}', "got an object"),
        (b'{"id": 1, "body": true}', "got `bool`"),
        (b'{"id": true, "body": 1}', "got `bool`"),
        (b'{"id": "", "body": 1}', "empty id"),
        (b'{"id": 1, "body": [1, 2]}', "list of 2"),
        (b'{"id": 1, "body": 1e999}', "out of range"),
    ],
)
def test_bad_values_are_rejected_with_the_reason(raw: bytes, reason: str) -> None:
    """Each kind of bad true value or prediction raises DecodeError naming the cause."""
    with pytest.raises(DecodeError, match=reason) as caught:
        decode_value(raw)
    assert caught.value.preview == raw.decode()[:120]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"id": 1, "body": 3.0}', "must be a list"),
        (b'{"id": 1, "body": []}', "empty"),
        (b'{"id": 1, "body": [1, NaN]}', "NaN"),
        (b'{"id": 1, "body": [1, "a"]}', "Expected `float`"),
    ],
)
def test_bad_features_are_rejected_with_the_reason(raw: bytes, reason: str) -> None:
    """Feature bodies that are not a non-empty list of finite numbers are rejected."""
    with pytest.raises(DecodeError, match=reason):
        decode_features(raw)


def test_record_key_unifies_integral_floats_and_keeps_the_rest() -> None:
    """5 and 5.0 are one record; fractional timestamps keep their exact digits."""
    assert record_key(5) == record_key(5.0) == "5"
    assert record_key(1699541234.567) == "1699541234.567"
    assert record_key("abc-1") == "abc-1"
    assert not math.isnan(float(record_key(0.1)))


@given(st.lists(ids, min_size=1, max_size=50, unique_by=record_key), st.integers(0, 12), st.data())
def test_batch_round_trip(
    batch_ids: list[int | float | str], columns: int, data: st.DataObject
) -> None:
    """Any ids with a matrix (or one value each) and stamps survive a batch unchanged."""
    shape = (len(batch_ids), columns) if columns else (len(batch_ids),)
    values = np.array(
        data.draw(st.lists(finite, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))),
        dtype=np.float64,
    )
    values = values.reshape(shape)
    stamps = np.arange(len(batch_ids), dtype=np.float64)
    records = decode_batch(encode_batch(batch_ids, values, stamps))
    assert [record_key(i) for i in records.ids] == [record_key(i) for i in batch_ids]
    np.testing.assert_array_equal(records.values, values)
    np.testing.assert_array_equal(records.sent_at, stamps)


def test_batch_keeps_non_finite_rows_for_the_caller() -> None:
    """A NaN inside a batch is not a decode error: the caller rejects that row alone."""
    values = np.array([[1.0, 2.0], [np.nan, 0.0]])
    records = decode_batch(encode_batch(["a", "b"], values, np.zeros(2)))
    assert np.isnan(records.values[1, 0])


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x93\x91\xa1a\xc4\x08" + b"\0" * 8 + b"\x00", "malformed batch"),
        (msgspec.msgpack.encode([["a", "b"], b"\0" * 8, 0, b"\0" * 16]), "8 body bytes"),
        (b"not msgpack at all", "malformed batch"),
    ],
)
def test_bad_batches_are_rejected(raw: bytes, reason: str) -> None:
    """A batch whose parts do not fit together is a DecodeError naming the mismatch."""
    with pytest.raises(DecodeError, match=reason):
        decode_batch(raw)


def test_decode_records_reads_both_forms() -> None:
    """Single JSON and batches decode to the same Records; the wrong kind of batch is refused."""
    single = decode_records(encode_value("x", 2.5), None, features=False, sent_at=7.0)
    assert single.ids == ["x"]
    assert single.values.tolist() == [2.5]
    assert single.sent_at.tolist() == [7.0]
    batch = encode_batch(["x"], np.array([2.5]), np.array([7.0]))
    assert decode_records(batch, BATCH, features=False).values.tolist() == [2.5]
    with pytest.raises(DecodeError, match="does not carry feature vectors"):
        decode_records(batch, BATCH, features=True)
