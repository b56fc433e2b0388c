"""Shared fixtures. RabbitMQ tests fail (never skip) under CI=true when the broker is missing."""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from mlmon.settings import Settings

BROKER_URL = os.environ.get("MLMON_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")
# The seeds' myfile.pkl (scikit-learn 1.0.2 LinearRegression), byte for byte, as a fixture.
SEED_MODEL = Path(__file__).resolve().parent / "fixtures" / "seed_myfile.pkl"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5672), 3):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def broker_url() -> str:
    """The real RabbitMQ's URL; a failure under CI=true when it is unreachable, else a skip."""
    if not _reachable(BROKER_URL):
        reason = f"RabbitMQ is not reachable at {BROKER_URL} (start it: rabbitmq-server -detached)"
        if _in_ci():
            pytest.fail(f"{reason}; under CI=true broker tests fail instead of skipping")
        pytest.skip(reason)
    return BROKER_URL


@pytest.fixture(scope="session")
def chromium() -> str:
    """A real Chromium for browser tests (Debian's `chromium`); under CI=true its absence fails."""
    import shutil

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = "Chromium is not installed (apt-get install chromium; .ci/run does it)"
        if _in_ci():
            pytest.fail(f"{reason}; under CI=true browser tests fail instead of skipping")
        pytest.skip(reason)
    return found


@pytest.fixture
def queue_names() -> dict[str, str]:
    """Queue names unique to one test, so tests never see each other's messages."""
    tag = uuid.uuid4().hex[:10]
    return {
        "queue_features": f"t-{tag}-features",
        "queue_y_true": f"t-{tag}-y_true",
        "queue_y_pred": f"t-{tag}-y_pred",
    }


@pytest.fixture
def rabbit_settings(
    broker_url: str, queue_names: dict[str, str], tmp_path: Path
) -> Iterator[Settings]:
    """Settings for a test against the real broker; its queues are deleted afterwards."""
    settings = Settings(broker_url=broker_url, logs_dir=tmp_path / "logs", **queue_names)
    yield settings
    delete_queues(broker_url, queue_names.values())


def delete_queues(url: str, names: object) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for name in names:  # type: ignore[attr-defined]
            for queue in (name, name + ".dead"):
                channel.queue_delete(queue)
            channel.exchange_delete(name)  # the features fan-out is named like its queue
    finally:
        connection.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts or "robustness" in item.path.parts:
            item.add_marker(pytest.mark.rabbitmq)
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.e2e)
    if hasattr(config, "workerinput"):  # an xdist worker: every worker sorts the same way
        items.sort(key=_parallel_order)


# Under xdist the workers take tests in collection order, a few at a time: the long ones go
# first so that no worker is left with one at the end while the others idle, and the tests that
# stop the broker come after every other broker test, while the other workers run unit tests
# (which do not wait for the broker lock below). Only the order changes (a stable sort), and
# only under xdist; a run without -n, or with -p no:xdist, keeps the files' order.
_ORDER = {"robustness": 0, "test_static.py": 1, "e2e": 2, "integration": 3}  # the rest: 5


def _parallel_order(item: pytest.Item) -> int:
    if item.get_closest_marker("stops_broker") is not None:
        return 4
    top = item.path.relative_to(Path(__file__).parent).parts[0]
    return _ORDER.get(top, 5)


# A test that stops the broker (marked `stops_broker`) must have it to itself: it holds this
# file's lock exclusively, and every other test that uses the broker (asks for `broker_url`)
# holds it shared, so none of them runs meanwhile on another xdist worker. The file is the same
# for every worker and every pytest run on the machine (flock; let go when the process dies).
# The lock is taken before the test's setup (the session `broker_url` checks the broker is
# reachable) and let go after its teardown (which deletes its queues), outside the count of
# pytest-timeout (this wrapper is outside the timeout plugin's).
BROKER_LOCK = Path(tempfile.gettempdir()) / "mlmon-tests-broker.lock"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    if item.get_closest_marker("stops_broker") is not None:
        mode = fcntl.LOCK_EX
    elif "broker_url" in getattr(item, "fixturenames", ()):
        mode = fcntl.LOCK_SH
    else:
        return (yield)
    with BROKER_LOCK.open("a") as handle:  # closing it lets the lock go
        fcntl.flock(handle, mode)
        return (yield)
