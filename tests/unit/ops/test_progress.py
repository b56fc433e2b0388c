"""`mlmon up`'s progress line: rows counted in the log as it grows, the MAE from statuses."""

from __future__ import annotations

import io
import logging
import math
import os
from pathlib import Path

from mlmon.ops.progress import (
    CLEAR_LINE,
    Display,
    RowCounter,
    Snapshot,
    closing_line,
    overall_mae,
)


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


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_record_clears_the_progress_line_first() -> None:
    """On a terminal, a log line starts on a cleared row, never after the progress line."""
    terminal = FakeTerminal()
    handler = logging.StreamHandler(terminal)
    handler.setFormatter(logging.Formatter("LOG %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with Display(stream=terminal) as display:
            display.show(Snapshot(5, 5, 5, 1.0, 0, 0))
            logging.getLogger("mlmon.test").warning("something happened")
            display.show(Snapshot(6, 6, 6, 1.0, 0, 0), final=True)
        logging.getLogger("mlmon.test").warning("after the run")
    finally:
        root.removeHandler(handler)
    output = terminal.getvalue()
    assert f"dead-lettered 0{CLEAR_LINE}LOG something happened\n" in output
    assert output.endswith("dead-lettered 0\nLOG after the run\n")


def test_closing_line_names_the_plot_only_when_rows_were_joined() -> None:
    """With rows: where they and the plot are. Without: that none were, and where to look."""
    logs = Path("logs")
    done = closing_line(Snapshot(10, 10, 10, 1.0, 0, 0), logs)
    assert "10 rows in logs/metric_log.csv" in done
    assert "error_distribution.png" in done
    dead = closing_line(Snapshot(10, 0, 0, math.nan, 10, 0), logs)
    assert "no rows were joined" in dead
    assert "10 records were dead-lettered" in dead
    assert "png" not in dead
