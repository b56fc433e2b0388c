"""quality_by_time.png: drawn with buckets of both states, and while waiting."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from matplotlib.image import imread

from mlmon.render.by_time import DPI, FIGURE_SIZE, render_quality_by_time

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _bucket(model: str, start: int, state: str, mae: float) -> dict[str, object]:
    return {
        "model": model, "start": start, "end": start + 300, "width": 300, "state": state,
        "rows": 10, "completeness": 1.0 if state == "final" else 0.4, "mae": mae,
    }  # fmt: skip


def test_draws_final_and_provisional_buckets_and_waits_without_them(tmp_path: Path) -> None:
    rows = [_bucket(m, 1_700_000_100 + k * 300, "final" if k < 6 else "provisional", k + 1.0)
            for m in ("a", "b") for k in range(9)]  # fmt: skip
    drawn, waiting = tmp_path / "drawn.png", tmp_path / "waiting.png"
    render_quality_by_time(rows, drawn, NOW)
    render_quality_by_time([], waiting, NOW)
    size = (round(FIGURE_SIZE[1] * DPI), round(FIGURE_SIZE[0] * DPI))
    image, empty = imread(drawn), imread(waiting)
    assert image.shape[:2] == empty.shape[:2] == size
    assert image.std() > empty.std()  # lines, points and bars, not a sentence on white
