"""Running the real `mlmon` command line in a subprocess, for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def mlmon(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m mlmon ARGS` with MLMON_* from the test environment stripped, then `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLMON_")}
    return subprocess.run(
        [sys.executable, "-m", "mlmon", *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )
