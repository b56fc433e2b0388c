"""`mlmon up`'s progress line: rows counted in the log as it grows, the MAE from statuses."""

from __future__ import annotations

import math
import os
from pathlib import Path

from mlmon.ops.progress import RowCounter, overall_mae


def test_rows_are_counted_as_the_log_grows_and_a_half_row_waits(tmp_path: Path) -> None:
    log = tmp_path / "metric_log.csv"
    counter = RowCounter(log)
    assert counter.poll() == 0  # no file yet
    log.write_bytes(b"id,y_true\n")
    assert counter.poll() == 0
    with log.open("ab") as file:
        file.write(b"a,1.0\nb,2.0\nc,3")  # c is still being written
    assert counter.poll() == 2
    with log.open("ab") as file:
        file.write(b".0\n")
    assert counter.poll() == 3


def test_a_replaced_or_cut_log_is_counted_afresh(tmp_path: Path) -> None:
    log = tmp_path / "metric_log.csv"
    log.write_bytes(b"id\n" + b"x\n" * 5)
    counter = RowCounter(log)
    assert counter.poll() == 5
    replacement = tmp_path / "new.csv"
    replacement.write_bytes(b"id\n" + b"y\n" * 2)
    os.replace(replacement, log)
    assert counter.poll() == 2
    with log.open("r+b") as file:
        file.truncate(3)  # cut back to the header, as a restarted metric does
    assert counter.poll() == 0


def test_overall_mae_weights_each_models_all_window_by_rows() -> None:
    def metric(quality: dict[str, object]) -> dict[str, object]:
        return {"service": "metric", "details": {"quality": quality}}

    statuses = [
        metric({"a": {"all": {"count": 3, "mae": 1.0}}, "b": {"all": {"count": 1, "mae": 5.0}}}),
        {"service": "model", "details": {}},
    ]
    assert overall_mae(statuses) == 2.0
    assert overall_mae([metric({"c": {"all": {"count": 4, "accuracy": 0.75}}})]) == 0.25
    assert math.isnan(overall_mae([metric({})]))
