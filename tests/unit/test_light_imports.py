"""Services that do not fit models stay light: scikit-learn (with scipy and pandas, ~1.5 s and
~100 MB a process) is imported only where a model or a reference is fitted or loaded."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module", ["mlmon.services.plot", "mlmon.services.metric.service", "mlmon.app.service_main"]
)
def test_importing_a_service_does_not_load_scikit_learn(module: str) -> None:
    code = (
        f"import sys, {module}; print(sorted(m for m in ('sklearn', 'pandas') if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert found == "[]"
