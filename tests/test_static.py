"""The static checks CI relies on, run inside the suite so `uv run pytest` is the one command.

ruff (lint and format), mypy strict and import-linter's contracts (layers point down; only `bus/`
imports the AMQP client; only `render/` imports matplotlib). The last tests show each contract
catching an upward import injected into a copy of the source, so the contracts cannot pass by
being mis-configured.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*command: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=600, check=False, env=env
    )
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_ruff_finds_nothing() -> None:
    run(str(BIN / "ruff"), "check", "src", "tests", "benchmarks")


def test_ruff_format_leaves_everything_as_it_is() -> None:
    run(str(BIN / "ruff"), "format", "--check", "src", "tests", "benchmarks")


def test_mypy_strict_passes() -> None:
    run(str(BIN / "mypy"))


def test_import_contracts_are_kept() -> None:
    out = run(str(BIN / "lint-imports"))
    assert "3 kept, 0 broken" in out


def lint_imports_on_a_copy(tmp_path: Path, module: str, line: str) -> str:
    """lint-imports on a copy of the sources where `module` gains `line`; returns its report."""
    shutil.copytree(ROOT / "src", tmp_path / "src")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "src" / "mlmon" / module
    target.write_text(target.read_text() + f"\n{line}\n")
    done = subprocess.run(
        [str(BIN / "lint-imports")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={"PYTHONPATH": str(tmp_path / "src"), "PATH": str(BIN)},
    )
    assert done.returncode != 0, done.stdout
    return done.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("errors.py", "import mlmon.app.cli  # noqa", "Layers point down"),
        ("monitoring/alert_rules.py", "import mlmon.ops.status  # noqa", "Layers point down"),
        ("ops/status.py", "import aio_pika  # noqa", "Only bus/ imports the AMQP client"),
        ("dashboard/state.py", "import matplotlib  # noqa", "Only render/ imports matplotlib"),
    ],
)
def test_a_contract_fails_on_an_injected_import(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    report = lint_imports_on_a_copy(tmp_path, module, line)
    assert f"{broken}" in report
    assert "BROKEN" in report.split(broken, 1)[1].splitlines()[0]
