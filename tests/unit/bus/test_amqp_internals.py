"""The aiormq, aio-pika and pamqp internals bus/ relies on are still there, as bus/ uses them.

`bus/confirmed_publish.py` writes many messages' frames itself and registers each confirm in
aiormq's own bookkeeping; `bus/consumer.py` replaces aiormq's delivery handler with one that
calls two of its private methods. No release promises any of these, so pyproject.toml bounds
aiormq to the tested minor; this test is what fails, naming the missing piece, on an upgrade
that removes or reshapes one (the integration tests over RabbitMQ check the behaviour).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import inspect
import textwrap
import tomllib
from pathlib import Path

import aio_pika.abc
import aiormq
import aiormq.abc
import pamqp.commands
import pamqp.constants
import pamqp.frame
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[3]

UPGRADE_HINT = (
    "bus/confirmed_publish.py and bus/consumer.py rely on it: adapt them to this version, "
    "or keep aiormq within the bounds pyproject.toml gives"
)

# Set on every aiormq.Channel by its __init__ and read or written by confirmed_publish.py
# (number, max_content_size, delivery_tag, confirmations, message_id_delivery_tag,
# write_queue) and consumer.py (consumers, on_consumer_cancel_callbacks).
CHANNEL_ATTRIBUTES = (
    "number",
    "max_content_size",
    "delivery_tag",
    "confirmations",
    "message_id_delivery_tag",
    "write_queue",
    "consumers",
    "on_consumer_cancel_callbacks",
)
# Methods and their parameters (after self), as the bus calls them.
CHANNEL_METHODS = {
    "_on_deliver_frame": ["frame"],  # consumer.py: replaced per channel, called for others
    "_Channel__get_content_header": [],  # consumer.py: name-mangled, private
    "_read_content": ["frame", "header"],  # consumer.py
    "create_future": [],  # confirmed_publish.py: futures the channel rejects when it closes
}


def _instance_attributes(cls: type) -> set[str]:
    """Names assigned as `self.<name>` in `cls.__init__`."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    }


def test_channel_sets_the_attributes_the_bus_uses() -> None:
    assigned = _instance_attributes(aiormq.Channel)
    missing = [name for name in CHANNEL_ATTRIBUTES if name not in assigned]
    assert not missing, f"aiormq.Channel no longer sets {missing}: {UPGRADE_HINT}"


@pytest.mark.parametrize(("name", "parameters"), CHANNEL_METHODS.items())
def test_channel_has_the_methods_the_bus_calls(name: str, parameters: list[str]) -> None:
    method = getattr(aiormq.Channel, name, None)
    assert method is not None, f"aiormq.Channel.{name} is gone: {UPGRADE_HINT}"
    found = list(inspect.signature(method).parameters)[1:]
    assert found[: len(parameters)] == parameters, (
        f"aiormq.Channel.{name} now takes {found}, not {parameters}: {UPGRADE_HINT}"
    )
    required = [
        p.name
        for p in list(inspect.signature(method).parameters.values())[1 + len(parameters) :]
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    assert not required, f"aiormq.Channel.{name} now requires {required}: {UPGRADE_HINT}"
    if name != "create_future":
        assert inspect.iscoroutinefunction(method), f"{name} is no longer async: {UPGRADE_HINT}"


def test_channel_lock_is_an_async_context_manager_property() -> None:
    """confirmed_publish.py holds `async with channel.lock` while it writes its frames."""
    lock = inspect.getattr_static(aiormq.Channel, "lock", None)
    assert isinstance(lock, property), f"aiormq.Channel.lock is not a property: {UPGRADE_HINT}"
    assert lock.fget is not None
    assert inspect.isasyncgenfunction(inspect.unwrap(lock.fget)), (
        f"aiormq.Channel.lock no longer gives an async context manager: {UPGRADE_HINT}"
    )


def test_channel_frame_takes_a_payload_and_a_drain_future() -> None:
    """confirmed_publish.py puts one ChannelFrame of many messages on the write queue."""
    fields = [field.name for field in dataclasses.fields(aiormq.abc.ChannelFrame)]
    assert fields[:3] == ["payload", "should_close", "drain_future"], (
        f"aiormq.abc.ChannelFrame now has fields {fields}: {UPGRADE_HINT}"
    )


def test_the_exceptions_the_bus_raises_and_catches_exist() -> None:
    for name in (
        "AMQPConnectionError",
        "ChannelInvalidStateError",
        "DuplicateConsumerTag",
        "DeliveryError",
        "PublishError",
    ):
        assert isinstance(getattr(aiormq.exceptions, name, None), type), (
            f"aiormq.exceptions.{name} is gone: {UPGRADE_HINT}"
        )


def test_robust_channel_gives_its_aiormq_channel_and_reopen_callbacks() -> None:
    """consumer.py consumes on the robust channel's current aiormq channel, again on reopen."""
    channel = aio_pika.abc.AbstractRobustChannel
    assert inspect.iscoroutinefunction(getattr(channel, "get_underlay_channel", None)), (
        f"aio-pika's robust channel lost get_underlay_channel: {UPGRADE_HINT}"
    )
    assert "reopen_callbacks" in _instance_attributes(aio_pika.RobustChannel), (
        f"aio-pika's RobustChannel no longer sets reopen_callbacks: {UPGRADE_HINT}"
    )


def test_pamqp_has_what_confirmed_publish_encodes_with() -> None:
    """Frame marshalling and constants; that the bytes equal pamqp's own is
    tests/unit/bus/test_confirmed_publish.py's test."""
    assert callable(getattr(pamqp.frame, "marshal", None)), f"pamqp.frame.marshal: {UPGRADE_HINT}"
    basic = pamqp.commands.Basic
    assert isinstance(basic.frame_id, int), f"pamqp Basic.frame_id: {UPGRADE_HINT}"
    assert callable(getattr(basic.Properties, "marshal", None)), UPGRADE_HINT
    assert (pamqp.constants.FRAME_HEADER, pamqp.constants.FRAME_BODY) == (2, 3)


@pytest.mark.parametrize("name", ["aio-pika", "aiormq", "pamqp"])
def test_the_amqp_libraries_are_declared_between_the_tested_version_and_a_ceiling(
    name: str,
) -> None:
    """pyproject.toml declares each library bus/ imports, its floor the version uv.lock pins
    (the one the tests run; an older one was never tried) and a ceiling."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = {
        requirement.name: requirement
        for requirement in map(Requirement, project["project"]["dependencies"])
    }
    assert name in declared, f"pyproject.toml does not declare {name}, which bus/ imports"
    specifiers = {spec.operator: Version(spec.version) for spec in declared[name].specifier}
    locked = next(
        Version(package["version"])
        for package in tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))["package"]
        if package["name"] == name
    )
    assert specifiers.get(">=") == locked, f"{name}: floor {specifiers.get('>=')}, locked {locked}"
    assert "<" in specifiers, f"{name} has no upper bound"
    assert Version(importlib.metadata.version(name)) in declared[name].specifier
