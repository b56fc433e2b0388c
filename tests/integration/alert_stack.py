"""A real Prometheus evaluating rules and a real Alertmanager, plus the two HTTP ends a test
needs around them: a fake mlmon exporter and a webhook receiver.

`alert_stack(rule_file, exporter, receiver_url, tmp)` starts /usr/bin/prometheus-alertmanager
and /usr/bin/prometheus on free ports with temporary configs (evaluation every second, short
group waits) and yields their URLs. A missing binary fails under CI=true (CI installs both in
.ci/run), else skips naming the install command, as tests/integration/prometheus_server.py does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _in_ci
from tests.integration.prometheus_server import prometheus_binary
from tests.robustness.harness import free_port

READY_PATIENCE = 30.0
ALERTMANAGER_CONFIG = """\
global:
  resolve_timeout: 5s
route:
  receiver: hook
  group_by: [alertname, model]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
        send_resolved: true
"""
PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: ["{rules}"]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{alertmanager}"]
scrape_configs:
  - job_name: mlmon
    static_configs:
      - targets: ["{exporter}"]
"""


def alertmanager_binary() -> str:
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found is None:
        reason = (
            "Alertmanager is not installed "
            "(install it: apt-get update && apt-get install -y prometheus-alertmanager)"
        )
        if _in_ci():
            pytest.fail(f"{reason}; under CI=true Alertmanager tests fail instead of skipping")
        pytest.skip(reason)
    return found


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def _server(name: str, argv: Callable[[int], list[str]], home: Path) -> Iterator[str]:
    """Start `argv(port)` on a free port until /-/ready answers; yield its URL; stop it."""
    log_path = home / f"{name}.log"
    for _attempt in range(3):  # a free port can be taken between probe and bind: try again
        port = free_port()
        with log_path.open("ab") as log:
            process = subprocess.Popen(argv(port), stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + READY_PATIENCE
            while process.poll() is None and not _ready(url):
                if time.monotonic() > deadline:
                    raise AssertionError(f"{name} not ready; log:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.1)
            if process.poll() is None:
                yield url
                return
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    raise AssertionError(f"{name} exited before ready; log:\n{log_path.read_text()[-3000:]}")


@contextmanager
def alert_stack(
    rule_file: Path, exporter: str, receiver_url: str, tmp: Path
) -> Iterator[tuple[str, str]]:
    """(Prometheus URL, Alertmanager URL), Prometheus scraping `exporter` (host:port)."""
    prometheus, alertmanager = prometheus_binary(), alertmanager_binary()
    home = tmp / "alert-stack"
    home.mkdir(parents=True, exist_ok=True)
    am_config = home / "alertmanager.yml"
    am_config.write_text(ALERTMANAGER_CONFIG.format(url=receiver_url))

    def am_argv(port: int) -> list[str]:
        return [
            alertmanager,
            f"--config.file={am_config}",
            f"--storage.path={home / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port: one instance, nothing to collide
        ]

    with _server("alertmanager", am_argv, home) as am_url:
        config = home / "prometheus.yml"
        config.write_text(
            PROMETHEUS_CONFIG.format(
                rules=rule_file, alertmanager=am_url.rsplit(":", 1)[1], exporter=exporter
            )
        )

        def prom_argv(port: int) -> list[str]:
            return [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={home / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ]

        with _server("prometheus", prom_argv, home) as prom_url:
            yield prom_url, am_url


class FakeExporter:
    """Serves /metrics with the gauges the test sets, as an mlmon service would."""

    def __init__(self) -> None:
        self.lines: dict[str, float] = {}
        self._lock = threading.Lock()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with exporter._lock:
                    body = "".join(f"{k} {v!r}\n" for k, v in exporter.lines.items()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set(self, sample: str, value: float) -> None:
        with self._lock:
            self.lines[sample] = value

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Receiver:
    """A webhook receiver: records each JSON body; answers `statuses` in turn, then 200."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self._statuses = list(statuses)
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._cond:
                    receiver.attempts += 1
                    status = receiver._statuses.pop(0) if receiver._statuses else 200
                    if status < 300:
                        receiver.bodies.append(json.loads(body))
                    receiver._cond.notify_all()
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, predicate: Callable[[Receiver], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def always_fail(self) -> None:
        with self._cond:
            self._statuses = [503] * 1_000_000

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
