"""`mlmon dashboard` never imports matplotlib: the dashboard process stays light."""

from __future__ import annotations

import subprocess
import sys

CHILD = "import mlmon.services.dashboard, sys; assert 'matplotlib' not in sys.modules"


def test_the_dashboard_service_does_not_import_matplotlib() -> None:
    """In a fresh interpreter (this one may have imported matplotlib already), importing the
    dashboard service leaves matplotlib out: importing `render` from it would fail this."""
    child = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=False, timeout=60
    )
    assert child.returncode == 0, child.stderr
