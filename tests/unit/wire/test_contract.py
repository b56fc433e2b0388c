"""The published contract (docs/records.md, docs/schemas/, docs/asyncapi.yaml) against the code:
field names, examples, refusals, limits, content types and headers cannot drift apart."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest
import yaml

import mlmon.wire as wire
from mlmon.errors import DecodeError
from mlmon.settings import Settings
from mlmon.wire import checks, labels
from mlmon.wire.arrow import ARROW, decode_values_arrow

DOCS = Path(__file__).resolve().parents[3] / "docs"
RECORDS = (DOCS / "records.md").read_text()
KINDS = ("features", "prediction", "true_value")
QUEUE_KIND = {"features": "features", "y_pred": "prediction", "y_true": "true_value"}


def schema(kind: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DOCS / "schemas" / f"{kind}.schema.json").read_text())
    return loaded


def validator(kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(kind))


def decoder(kind: str) -> Callable[[bytes], object]:
    return wire.decode_features if kind == "features" else wire.decode_value


def test_the_schemas_are_valid_2020_12_schemas() -> None:
    for kind in KINDS:
        assert schema(kind)["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema(kind))


def test_the_schemas_name_exactly_the_decoders_fields() -> None:
    """Every field the decoder reads is in a schema, and no schema names one it does not: the
    prediction has them all; features and true values those that mean something there."""
    fields = {field.name for field in msgspec.structs.fields(wire._Message)}
    names = {kind: set(schema(kind)["properties"]) for kind in KINDS}
    assert names["prediction"] == fields
    assert names["features"] == {"id", "body", "ts", "tags"}
    assert names["true_value"] == {"id", "body", "ts", "tags"}
    for kind in KINDS:
        assert set(schema(kind)["required"]) == {
            f.name for f in msgspec.structs.fields(wire._Message) if f.required
        }


def fenced(language: str, text: str = RECORDS) -> Iterator[tuple[str, str]]:
    """Each ```<language> <tag> block of docs/records.md as (tag, content)."""
    for match in re.finditer(rf"^```{language}[ ]?(\S*)\n(.*?)^```$", text, re.S | re.M):
        yield match.group(1), match.group(2)


def test_every_json_example_in_records_md_validates_and_decodes() -> None:
    examples = list(fenced("json"))
    assert {tag for tag, _ in examples} == set(KINDS)
    assert len(examples) >= 8
    for kind, text in examples:
        message = json.loads(text)
        validator(kind).validate(message)
        decoder(kind)(text.encode())


def reject_rows() -> list[tuple[str, str, str]]:
    """The rows of the refusals table in docs/records.md: (queue, message, reason)."""
    section = RECORDS.split("## What is refused, and why", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 3 and cells[1].startswith("`{"):
            rows.append((cells[0].strip("`"), cells[1].strip("`"), cells[2]))
    return rows


def test_the_refusals_table_is_what_the_decoder_says() -> None:
    rows = reject_rows()
    assert len(rows) >= 15
    for queue, message, reason in rows:
        with pytest.raises(DecodeError) as caught:
            decoder(QUEUE_KIND[queue])(message.encode())
        found = caught.value.reason
        position = 0
        for part in reason.split("…"):  # the parts that do not vary, in order
            position = found.find(part.strip(), position)
            assert position >= 0, f"{message}: {found!r} does not say {reason!r}"


# (queue kind, message): refused by the schema and by the decoder alike.
BAD = [
    ("features", {"id": 1, "body": 3.0}),
    ("features", {"id": 1, "body": "x"}),
    ("features", {"id": 1, "body": []}),
    ("features", {"id": 1, "body": [1, "a"]}),
    ("features", {"id": 1, "body": {}}),
    ("features", {"id": 1, "body": {"": 1}}),
    ("features", {"id": 1, "body": {"f" * (checks.MAX_FEATURE_NAME_CHARS + 1): 1}}),
    ("features", {"id": 1, "body": {"x": True}}),
    ("features", {"id": 1, "body": {"x": [1]}}),
    ("features", {"body": [1]}),
    ("features", {"id": 1}),
    ("features", {"id": "", "body": [1]}),
    ("features", {"id": None, "body": [1]}),
    ("features", {"id": True, "body": [1]}),
    ("features", {"id": 1, "body": [1], "ts": "now"}),
    ("features", {"id": 1, "body": [1], "ts": 0}),
    ("features", {"id": 1, "body": [1], "ts": -1.5}),
    ("features", {"id": 1, "body": [1], "tags": {"a": 1}}),
    ("features", {"id": 1, "body": [1], "tags": {"a": None}}),
    ("features", {"id": 1, "body": [1], "tags": ["a"]}),
    ("features", {"id": 1, "body": [1], "tags": {"": "x"}}),
    ("features", {"id": 1, "body": [1], "tags": {"a": "x" * (checks.MAX_TAG_CHARS + 1)}}),
    (
        "features",
        {"id": 1, "body": [1], "tags": {f"t{i}": "x" for i in range(checks.MAX_TAGS + 1)}},
    ),
    ("true_value", {"id": 1, "body": True}),
    ("true_value", {"id": 1, "body": None}),
    ("true_value", {"id": 1, "body": ""}),
    ("true_value", {"id": 1, "body": [1, 2]}),
    ("true_value", {"id": 1, "body": []}),
    ("true_value", {"id": 1, "body": {"a": 1}}),
    ("true_value", {"id": 1, "body": 1, "ts": "2026-01-01"}),
    ("prediction", {"id": 1, "body": "a", "scores": {"a": 1.5, "b": -0.5}}),
    ("prediction", {"id": 1, "body": "a", "scores": {"a": "high"}}),
    ("prediction", {"id": 1, "body": "a", "scores": {}}),
    ("prediction", {"id": 1, "body": "a", "scores": [0.5, 0.5]}),
    ("prediction", {"id": 1, "body": 1, "model": 3}),
    ("prediction", {"id": 1, "body": 1, "version": 2.0}),
    ("prediction", {"id": 1, "body": 1, "features": "x"}),
    ("prediction", {"id": 1, "body": 1, "features": [1, "a"]}),
    ("prediction", {"id": 1, "body": 1, "features": {}}),
    ("prediction", {"id": 1, "body": 1, "features": {"": 1}}),
]


@pytest.mark.parametrize(("kind", "message"), BAD, ids=[json.dumps(m)[:60] for _, m in BAD])
def test_a_bad_message_is_refused_by_the_schema_and_by_the_decoder(
    kind: str, message: dict[str, Any]
) -> None:
    assert not validator(kind).is_valid(message)
    with pytest.raises(DecodeError):
        decoder(kind)(json.dumps(message).encode())


# What JSON Schema cannot say, so only the decoder refuses (docs/records.md says each).
DECODER_ONLY = [
    ("prediction", {"id": 1, "body": "a", "scores": {"a": 0.5, "b": 0.3}}),  # sum
    ("features", {"id": 1, "body": [1], "ts": 99999999999999}),  # ahead of the clock
]


@pytest.mark.parametrize(("kind", "message"), DECODER_ONLY)
def test_what_the_schema_cannot_say_only_the_decoder_refuses(
    kind: str, message: dict[str, Any]
) -> None:
    assert validator(kind).is_valid(message)
    with pytest.raises(DecodeError):
        decoder(kind)(json.dumps(message).encode())


def limits_table() -> dict[str, float]:
    section = RECORDS.split("## Limits", 1)[1].split("\n## ", 1)[0]
    found = {}
    for line in section.splitlines():
        match = re.fullmatch(r"\|[^|]+\| ([\d.,]+)(?: s)? \| `(\w+)` \|", line)
        if match:
            found[match.group(2)] = float(match.group(1).replace(",", ""))
    return found


def test_the_limits_in_records_md_are_the_codes() -> None:
    documented = limits_table()
    assert documented == {
        "MAX_TAGS": checks.MAX_TAGS,
        "MAX_TAG_CHARS": checks.MAX_TAG_CHARS,
        "MAX_FEATURE_NAME_CHARS": checks.MAX_FEATURE_NAME_CHARS,
        "MAX_FUTURE_SECONDS": checks.MAX_FUTURE_SECONDS,
        "SCORE_SUM_TOLERANCE": checks.SCORE_SUM_TOLERANCE,
        "MAX_LABELS": labels.MAX_LABELS,
        "max_message_bytes": Settings.model_fields["max_message_bytes"].default,
    }


def test_the_limits_in_the_schemas_are_the_codes() -> None:
    for kind in KINDS:
        tags = schema(kind)["properties"]["tags"]
        tags = schema(kind)["$defs"]["tags"] if "$ref" in tags else tags
        assert tags["maxProperties"] == checks.MAX_TAGS
        assert tags["propertyNames"]["maxLength"] == checks.MAX_TAG_CHARS
        assert tags["additionalProperties"]["maxLength"] == checks.MAX_TAG_CHARS
        text = json.dumps(schema(kind))
        assert f"{checks.MAX_FUTURE_SECONDS:.0f} s ahead" in text
    named = [schema("features")["$defs"]["named"]]
    named += [s for s in schema("prediction")["properties"]["features"]["oneOf"] if "type" in s]
    lengths = {n["propertyNames"]["maxLength"] for n in named if n["type"] == "object"}
    assert lengths == {checks.MAX_FEATURE_NAME_CHARS}
    assert f"sum to 1 within {checks.SCORE_SUM_TOLERANCE}" in json.dumps(schema("prediction"))


def test_the_pyarrow_producer_example_writes_a_batch_mlmon_reads() -> None:
    """The ```python block of docs/records.md runs, with a stand-in channel, and what it
    publishes decodes with every row usable."""
    published: list[dict[str, Any]] = []

    class Channel:
        def basic_publish(self, **kwargs: Any) -> None:
            published.append(kwargs)

    (code,) = (text for _, text in fenced("python"))
    assert len(code.strip().splitlines()) <= 25
    exec(compile(code, "docs/records.md", "exec"), {"channel": Channel()})  # noqa: S102
    (sent,) = published
    assert sent["routing_key"] == "y_pred"
    assert sent["properties"].content_type == ARROW
    assert isinstance(sent["properties"].headers[wire.HEADER_SENT_AT], int)
    decoded = decode_values_arrow(sent["body"])
    assert decoded.bad == {}
    assert decoded.models == ["churn-gbm"] * 3
    assert decoded.classes == ("churn", "stay")
    assert decoded.features is not None
    assert decoded.features["plan"].tolist() == ["pro", "free", None]


def asyncapi() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    return loaded


def refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def test_the_asyncapi_document_fits_the_code() -> None:
    doc = asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    for ref in refs(doc):
        if ref.startswith("#/"):  # points inside the document
            target: Any = doc
            for part in ref[2:].split("/"):
                target = target[part]
        else:
            assert (DOCS / ref).is_file(), ref
    files = {ref for ref in refs(doc) if not ref.startswith("#")}
    assert files == {f"./schemas/{kind}.schema.json" for kind in KINDS}
    settings = Settings.model_fields
    queues = {settings[f"queue_{name}"].default for name in ("features", "y_true", "y_pred")}
    assert {channel["address"] for channel in doc["channels"].values()} == queues
    assert queues == {"features", wire.Y_TRUE, wire.Y_PRED}
    messages = doc["components"]["messages"].values()
    assert {message["contentType"] for message in messages} == {wire.JSON, wire.BATCH, ARROW}
    headers = doc["components"]["schemas"]["predictionHeaders"]["properties"]
    common = {wire.HEADER_SENT_AT, wire.HEADER_BATCH}
    assert set(headers) == {*common, wire.HEADER_MODEL, wire.HEADER_MODEL_VERSION}
    assert set(doc["components"]["schemas"]["headers"]["properties"]) == common


def test_every_asyncapi_example_validates_against_its_messages_schema() -> None:
    for message in asyncapi()["components"]["messages"].values():
        if message["contentType"] != wire.JSON:
            continue
        kind = Path(message["payload"]["schema"]["$ref"]).name.removesuffix(".schema.json")
        for example in message["examples"]:
            validator(kind).validate(example["payload"])
            decoder(kind)(json.dumps(example["payload"]).encode())
