"""The plot's prediction counts and estimate cells, summed over a sharded metric's join stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlmon.arrays import Floats
from mlmon.metric_log.layout import SHARDS_DIR
from mlmon.services import plot
from mlmon.settings import Settings


def test_counts_and_cells_of_every_worker_are_summed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(logs_dir=tmp_path)
    one, two = (tmp_path / SHARDS_DIR / name for name in ("1-of-2", "2-of-2"))
    one.mkdir(parents=True)
    two.mkdir(parents=True)
    predicted = {
        one / ".mlmon": {"m": {0: 3, 60: 1}},
        two / ".mlmon": {"m": {0: 2}, "other": {60: 5}},
    }
    estimated: dict[Path, dict[str, dict[int, Floats]]] = {
        one / ".mlmon": {"m": {0: np.array([1.0, 2.0])}},
        two / ".mlmon": {"m": {0: np.array([0.5, 0.5, 4.0])}},
    }
    monkeypatch.setattr(
        plot, "read_counts", lambda store: (predicted.get(store), estimated.get(store, {}))
    )
    counts, cells = plot._counts(settings)
    assert counts == {"m": {0: 5, 60: 1}, "other": {60: 5}}
    assert cells["m"][0].tolist() == [1.5, 2.5, 4.0]


def test_no_store_anywhere_is_no_counts(tmp_path: Path) -> None:
    assert plot._counts(Settings(logs_dir=tmp_path)) == (None, {})
