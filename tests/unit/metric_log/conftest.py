"""The metric_log tests' fixtures: a log's path and a sink that keeps every row."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.metric_log.sample_log import KeptRows


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "metric_log.csv"


@pytest.fixture
def rows() -> KeptRows:
    return KeptRows()
