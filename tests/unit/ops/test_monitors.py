"""ops.monitors.LiveQuality over the tracker: overflowing rows left out, gathered rows seen."""

from __future__ import annotations

import numpy as np


def test_live_quality_leaves_out_rows_whose_error_overflows() -> None:
    """Two finite values whose difference is infinite are written to the log (error inf) but
    must not stop the metric service nor spoil the windows: the other rows count."""
    import math

    from mlmon.join.joined import Joined
    from mlmon.ops.monitors import LiveQuality
    from mlmon.settings import Settings

    joined = Joined()
    joined.extend(["a", "b", "c"], np.array([1.0, 1e308, 3.0]), np.array([2.0, -1e308, 3.5]),
                  "m", "1", np.array([0.0, 0.0, 0.0]), 10.0, 0.0)  # fmt: skip
    joined.extend(["d"], np.array([1.0]), np.array([1.0]), "other", "1", np.array([0.0]), 10.0, 0.0)
    quality = LiveQuality(Settings())
    quality.add(joined)
    figures = quality.snapshot(10.0)
    assert figures["m"]["all"].count == 2
    assert math.isclose(figures["m"]["all"].mae, 0.75)
    assert figures["other"]["all"].count == 1


def test_live_quality_counts_rows_it_has_not_folded_yet() -> None:
    """LiveQuality gathers small batches before its tracker sees them; a snapshot still sees
    every row added, and a full gathering goes to the tracker without one."""
    from mlmon.join.joined import Joined
    from mlmon.ops.monitors import FOLD_ROWS, LiveQuality
    from mlmon.settings import Settings

    quality = LiveQuality(Settings())
    for batch in range(3):
        joined = Joined()
        joined.extend([f"{batch}-0", f"{batch}-1"], np.array([1.0, 2.0]), np.array([2.0, 4.0]),
                      "m", "1", np.array([0.0, 0.0]), 10.0 + batch, 0.0)  # fmt: skip
        quality.add(joined)
    assert quality.tracker.models == ()  # nothing folded yet
    figures = quality.snapshot(12.0)["m"]
    assert (figures["all"].count, figures["all"].mae) == (6, 1.5)
    many = Joined()
    keys = [str(i) for i in range(FOLD_ROWS)]
    many.extend(keys, np.zeros(FOLD_ROWS), np.ones(FOLD_ROWS), "m", "1",
                np.zeros(FOLD_ROWS), 20.0, 0.0)  # fmt: skip
    quality.add(many)
    assert quality.tracker.held() >= FOLD_ROWS  # folded without a snapshot
