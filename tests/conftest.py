"""Shared fixtures. RabbitMQ tests fail (never skip) under CI=true when the broker is missing."""

from __future__ import annotations

import contextlib
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

# Under xdist (addopts' -n) each worker, and every service it starts, shares the CPUs with the
# other workers: scikit-learn's OpenMP and OpenBLAS would each start a thread per CPU, whose
# busy-waiting then fights the other workers' (a 1 s scikit-learn fit took 60 s so). Each worker
# gets its share instead; a value set outside the tests is kept.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    _threads = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_variable, str(_threads))

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
# (which do not wait for the broker lock below); the tests marked `alone` come last, when the
# other workers have only short tests left to finish. Only the order changes (a stable sort), and
# only under xdist; a run with -n 0 keeps the files' order.
_ORDER = {"robustness": 0, "test_static.py": 1, "e2e": 2, "integration": 3}  # the rest: 5


def _parallel_order(item: pytest.Item) -> int:
    if item.get_closest_marker("alone") is not None:
        return 6
    if item.get_closest_marker("stops_broker") is not None:
        return 4
    top = item.path.relative_to(Path(__file__).parent).parts[0]
    return _ORDER.get(top, 5)


# Two locks between xdist workers, each a file that is the same for every worker and every
# pytest run on the machine (flock; let go when the process dies), taken before a test's setup
# and let go after its teardown, outside the count of pytest-timeout (this wrapper is outside the
# timeout plugin's):
# - a test marked `alone` (it bounds how long something takes) holds MACHINE_LOCK exclusively,
#   every other test holds it shared: no other test loads the machine meanwhile;
# - a test that stops the broker (marked `stops_broker`) holds BROKER_LOCK exclusively, every
#   other test that uses the broker (asks for `broker_url`, whose session check that the broker
#   is reachable is in the setup) holds it shared: none of them runs meanwhile.
# Always MACHINE_LOCK first, then BROKER_LOCK, so no two tests wait for each other.
MACHINE_LOCK = Path(tempfile.gettempdir()) / "mlmon-tests-machine.lock"
BROKER_LOCK = Path(tempfile.gettempdir()) / "mlmon-tests-broker.lock"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    with contextlib.ExitStack() as held:
        alone = item.get_closest_marker("alone") is not None
        _lock(held, MACHINE_LOCK, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        if item.get_closest_marker("stops_broker") is not None:
            _lock(held, BROKER_LOCK, fcntl.LOCK_EX)
        elif "broker_url" in getattr(item, "fixturenames", ()):
            _lock(held, BROKER_LOCK, fcntl.LOCK_SH)
        return (yield)


def _lock(held: contextlib.ExitStack, path: Path, mode: int) -> None:
    handle = held.enter_context(path.open("a"))  # closing it lets the lock go
    fcntl.flock(handle, mode)
