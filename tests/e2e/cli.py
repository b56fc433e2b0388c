"""Running the real `mlmon` command line in a subprocess, for end-to-end tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mlmon.model.predictors import default_model_path


def mlmon(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m mlmon ARGS` with MLMON_* from the test environment stripped, then `env`."""
    return subprocess.run(
        [sys.executable, "-m", "mlmon", *args],
        env=mlmon_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def mlmon_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without the caller's MLMON_*; the dashboard on a free port (never a
    fixed one two runs could both want), then `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLMON_")}
    return {**clean, "MLMON_DASHBOARD_PORT": str(free_port()), **(env or {})}


def mlmon_background(*args: str, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m mlmon ARGS` left running, its output in `log_path`."""
    with log_path.open("wb") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "mlmon", *args],
            env=mlmon_env(env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def good_and_bad_models(directory: Path) -> tuple[Path, Path]:
    """The shipped linear model as "good", and "bad": the same with coefficients cut to 30 %,
    clearly worse (MAE about 56 against 43 on diabetes)."""
    document = json.loads(default_model_path().read_text(encoding="utf-8"))
    good, bad = directory / "good.json", directory / "bad.json"
    good.write_text(json.dumps({**document, "name": "good", "version": "1"}), encoding="utf-8")
    weak = [0.3 * c for c in document["coef"]]
    bad.write_text(
        json.dumps({**document, "name": "bad", "version": "1", "coef": weak}), encoding="utf-8"
    )
    return good, bad


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll `condition` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
