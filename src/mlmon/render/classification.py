"""The error PNG of a classifier: its errors are 0 (right) or 1 (wrong), which a histogram
shows as one or two bars at the edges. Drawn instead: per model, the share of right and wrong
predictions as one horizontal bar, with the accuracy and the counts beside it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from mlmon.summary.error_group import ErrorGroup

TITLE = "Right and wrong predictions (classification)"
RIGHT, WRONG, INK, MUTED = "#2f8f5b", "#c44e52", "#1f2933", "#6b7785"


def zero_one(groups: Sequence[ErrorGroup]) -> bool:
    """Whether every error is 0 or 1: a classifier's (0/1 errors are exact in `low`, `high`
    and the sample; a regression whose errors are all whole 0 or 1 is not one seen)."""
    return bool(groups) and all(
        group.low >= 0.0 and group.high <= 1.0 and bool(np.isin(group.sample, (0.0, 1.0)).all())
        for group in groups
    )


def draw_correct_shares(figure: Figure, groups: Sequence[ErrorGroup]) -> None:
    """One bar per model (the first on top): right share in green, wrong in red; the error
    rate is each group's exact mean."""
    height = min(0.16 * len(groups) + 0.12, 0.62)
    axes = figure.add_axes((0.18, 0.8 - height, 0.56, height))
    names = [group.name or "model" for group in groups]
    wrong = np.array([group.mean for group in groups])
    positions = np.arange(len(groups))[::-1]
    axes.barh(positions, 1.0 - wrong, color=RIGHT, height=0.6, label="right")
    axes.barh(positions, wrong, left=1.0 - wrong, color=WRONG, height=0.6, label="wrong")
    axes.set_yticks(positions, names, fontsize=11, color=INK)
    axes.set_xlim(0.0, 1.0)
    axes.set_xticks(np.linspace(0, 1, 6), [f"{x:.0%}" for x in np.linspace(0, 1, 6)])
    axes.tick_params(colors=MUTED)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.set_xlabel("share of joined predictions", color=INK, fontsize=11)
    for position, group, rate in zip(positions, groups, wrong, strict=True):
        wrong_rows = round(group.count * rate)
        axes.text(
            1.02, position,
            f"accuracy {1 - rate:.1%}\n{group.count - wrong_rows:,} right, {wrong_rows:,} wrong",
            va="center", fontsize=10, color=INK, transform=axes.get_yaxis_transform(),
        )  # fmt: skip
    axes.legend(loc="lower left", bbox_to_anchor=(0.0, 1.01), ncols=2, frameon=False, fontsize=10)
    figure.text(0.075, 0.93, TITLE, fontsize=16, fontweight="bold", color=INK)
