"""A throwaway real Prometheus server that scrapes given targets every second.

`prometheus_server(["127.0.0.1:9123"], tmp_path)` starts /usr/bin/prometheus on a free port
with a temporary config and database, waits for /-/ready and yields a `PrometheusServer`
whose `query(promql)` runs an instant query through the HTTP API. Prometheus is missing:
a failure under CI=true (CI installs it in .ci/run), else a skip naming the install command.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _in_ci
from tests.robustness.harness import free_port

INSTALL = "apt-get update && apt-get install -y prometheus"
READY_PATIENCE = 30.0
CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: mlmon
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: [{targets}]
"""


def prometheus_binary() -> str:
    """The Prometheus executable; a failure under CI=true when it is missing, else a skip."""
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if found is None:
        reason = f"Prometheus is not installed (install it: {INSTALL})"
        if _in_ci():
            pytest.fail(f"{reason}; under CI=true Prometheus tests fail instead of skipping")
        pytest.skip(reason)
    return found


class PrometheusServer:
    """A running Prometheus: its base URL and an instant-query helper."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The `result` list of an instant query (an empty list when nothing matches)."""
        address = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(address, timeout=5) as response:  # noqa: S310 - local http
            body = json.load(response)
        if body.get("status") != "success":
            raise AssertionError(f"query {promql!r} failed: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False


@contextmanager
def prometheus_server(targets: list[str], tmp_dir: Path) -> Iterator[PrometheusServer]:
    """Run a real Prometheus scraping `targets` (host:port) as job `mlmon`; stop it after."""
    binary = prometheus_binary()
    home = tmp_dir / "prometheus"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "prometheus.yml"
    config.write_text(CONFIG.format(targets=", ".join(f'"{t}"' for t in targets)))
    log_path = home / "prometheus.log"
    for _attempt in range(3):  # a free port can be taken between probe and bind: try again
        port = free_port()
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={home / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        server = PrometheusServer(port, log_path)
        try:
            deadline = time.monotonic() + READY_PATIENCE
            while process.poll() is None and not server.ready():
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"Prometheus not ready after {READY_PATIENCE:.0f}s; "
                        f"log:\n{log_path.read_text()[-3000:]}"
                    )
                time.sleep(0.1)
            if process.poll() is None:
                yield server
                return
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    raise AssertionError(f"Prometheus exited before ready; log:\n{log_path.read_text()[-3000:]}")
