"""A classifier's 0/1 errors are drawn as right and wrong shares, not as a histogram."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from matplotlib.image import imread

from mlmon.render.classification import zero_one
from mlmon.render.error_distribution import render_error_groups
from mlmon.summary.error_group import ErrorGroup


def test_zero_one_errors_are_told_from_absolute_errors() -> None:
    wrong = (np.arange(100) % 7 == 0).astype(float)
    assert zero_one([ErrorGroup.of("a", wrong), ErrorGroup.of("b", np.zeros(5))])
    assert not zero_one([ErrorGroup.of("a", wrong), ErrorGroup.of("b", np.array([0.5, 1.0]))])
    assert not zero_one([ErrorGroup.of("r", np.array([0.0, 2.0]))])
    assert not zero_one([])


def test_the_png_shows_green_and_red_bars_in_their_shares(tmp_path: Path) -> None:
    """The one bar's red part is its error rate: 20% of its width."""
    path = tmp_path / "error_distribution.png"
    errors = (np.arange(1000) % 5 == 0).astype(float)
    render_error_groups([ErrorGroup.of("m", errors)], path, datetime.now(UTC))
    image = imread(path)[:, :, :3]
    green = np.all(np.abs(image - np.array([0x2F, 0x8F, 0x5B]) / 255) < 0.02, axis=2)
    red = np.all(np.abs(image - np.array([0xC4, 0x4E, 0x52]) / 255) < 0.02, axis=2)
    row = int(np.argmax(green.sum(axis=1)))  # the bar's middle
    share = red[row].sum() / (red[row].sum() + green[row].sum())
    assert abs(share - 0.2) < 0.01
