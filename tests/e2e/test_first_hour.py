"""What a new user meets in their first hour, through the real command line (issue 21)."""

from __future__ import annotations

import pytest

from mlmon import __version__
from tests.e2e.cli import mlmon

HELP_ENV = {"COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1"}


def test_version_prints_and_exits_0() -> None:
    """`mlmon --version` answers with the version, not "Missing command."."""
    result = mlmon("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"mlmon {__version__}"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("up", ["mae[last_500] > 60", "[default: logs]"]),
        ("dashboard", ["[default: logs]"]),
    ],
)
def test_help_keeps_what_is_in_brackets(command: str, expected: list[str]) -> None:
    """Help shows bracketed examples and defaults as written (rich markup once ate them)."""
    result = mlmon(command, "--help", env=HELP_ENV)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # undo the wrapping
    for needle in expected:
        assert needle in text, f"{needle!r} missing from `mlmon {command} --help`:\n{text}"
