"""What `mlmon up` shows while it runs: records sent, predicted, joined, current MAE.

Sent/predicted/dead-lettered and the MAE come from the services' statuses (the MAE is the
metric service's `all` window: every row since that process started, refreshed every
status_interval); joined is counted in metric_log.csv itself, the ground truth, only rows
written since `up` started, through the metric log's `LineTail`. Rows are counted by their line
ends, without parsing: parsing them here as well would take CPU the pipeline needs at full rate.
(An id with a line break inside, quoted in the CSV, would count twice; mlmon's ids have none.)
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from mlmon.metric_log.layout import metric_logs
from mlmon.metric_log.tail import LineTail
from mlmon.ops.status import pending_halves, read_statuses, totals

StatusSource = Callable[[], list[dict[str, Any]]]


def status_files(state_dir: Path, since: float) -> StatusSource:
    """Statuses as the services' processes last wrote them (up to status_interval old)."""
    return lambda: read_statuses(state_dir, since)


@dataclass(frozen=True)
class Snapshot:
    sent: int
    predicted: int
    joined: int
    mae: float
    dead_lettered: int
    pending: int
    classification: bool = False  # `mae` is then the error rate: shown as accuracy

    def line(self) -> str:
        if self.classification:
            quality = "accuracy " + ("-" if math.isnan(self.mae) else f"{1 - self.mae:.1%}")
        else:
            quality = "MAE " + ("-" if math.isnan(self.mae) else f"{self.mae:.2f}")
        return (
            f"sent {self.sent:,} | predicted {self.predicted:,} | joined {self.joined:,} | "
            f"{quality} | pending {self.pending:,} | dead-lettered {self.dead_lettered:,}"
        )


def closing_line(final: Snapshot, logs_dir: Path) -> str:
    """What `mlmon up` says last: where the rows and the plot are, or why there are none."""
    if final.joined:
        logs = metric_logs(logs_dir)
        where = logs[0] if len(logs) == 1 else f"{len(logs)} log shards ({logs[0].parent.parent})"
        return f"{final.joined:,} rows in {where}, plot in {logs_dir / 'error_distribution.png'}"
    if final.sent == 0:
        why = "no record was sent"
    elif final.dead_lettered:
        why = (
            f"{final.dead_lettered:,} records were dead-lettered: the log lines above "
            "give the reason"
        )
    else:
        why = f"{final.sent:,} records were sent, {final.predicted:,} predicted"
    return f"no rows were joined in this run ({why})"


class RowCounter:
    """Complete rows of a CSV file with a header line, counted by line ends as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines = LineTail(path)
        self._count = 0  # lines read, the header included

    def poll(self) -> int:
        self._lines.read(self._take, self._start_again)
        return max(self._count - 1, 0)

    def _take(self, lines: bytes) -> int:
        count = lines.count(b"\n")
        self._count += count
        return count

    def _start_again(self, reason: str) -> None:
        self._count = 0


class LogRows:
    """Complete rows of every metric log of a logs directory (one, or each worker's shard)."""

    def __init__(self, logs_dir: Path) -> None:
        self._logs_dir = logs_dir
        self._counters: dict[Path, RowCounter] = {}

    def poll(self) -> int:
        for path in metric_logs(self._logs_dir):
            if path not in self._counters:
                self._counters[path] = RowCounter(path)
        return sum(counter.poll() for counter in self._counters.values())


def overall_mae(statuses: list[dict[str, Any]]) -> float:
    """The mean absolute error over every row the metric services joined (their "all"
    windows, weighted by rows; the error rate for classification)."""
    errors = rows = 0.0
    for status in statuses:
        if status.get("service") != "metric":
            continue
        for windows in status.get("details", {}).get("quality", {}).values():
            figures = windows.get("all") or {}
            count = figures.get("count") or 0
            mae = figures.get("mae")
            if mae is None and figures.get("accuracy") is not None:
                mae = 1.0 - figures["accuracy"]
            if count and mae is not None:
                errors += mae * count
                rows += count
    return errors / rows if rows else math.nan


def _classifying(statuses: list[dict[str, Any]]) -> bool:
    """Whether the metric services' figures are a classifier's (accuracy, not MAE)."""
    return any(
        (windows.get("all") or {}).get("accuracy") is not None
        for status in statuses
        if status.get("service") == "metric"
        for windows in status.get("details", {}).get("quality", {}).values()
    )


class Progress:
    def __init__(self, logs_dir: Path, statuses: StatusSource) -> None:
        """`statuses` gives the services' status dicts: live objects or their files."""
        self._statuses = statuses
        self._rows = LogRows(logs_dir)
        self._baseline = self._rows.poll()  # rows written before this run

    def snapshot(self) -> Snapshot:
        rows = self._rows.poll()
        if rows < self._baseline:  # the log was replaced
            self._baseline = 0
        statuses = self._statuses()
        features, model, metric = (
            totals(statuses, name) for name in ("features", "model", "metric")
        )
        pending = sum(pending_halves(statuses).values())
        return Snapshot(
            sent=features["sent"],
            predicted=model["predicted"],
            joined=rows - self._baseline,
            mae=overall_mae(statuses),
            dead_lettered=model["dead_lettered"] + metric["dead_lettered"],
            pending=pending,
            classification=_classifying(statuses),
        )


CLEAR_LINE = "\r\x1b[2K"  # back to column 0, erase the row


class Display:
    """One progress line: rewritten in place on a terminal, printed every few seconds otherwise.

    Used as a context manager, it also owns the terminal row while the run lasts: before any
    log record is written (to the same terminal, through the root logger's handlers), the
    progress line is erased, so a log line never starts in the middle of it; the next
    refresh draws it again below.
    """

    def __init__(self, every: float = 5.0, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._tty = self._stream.isatty()
        self._every = every
        self._last = 0.0
        self._shown = False  # an unfinished progress line is on the row
        self._lock = threading.Lock()  # log records also come from worker threads
        self._filter = _ClearBeforeLog(self)

    def show(self, snapshot: Snapshot, final: bool = False) -> None:
        with self._lock:
            if self._tty:
                end = "\n" if final else ""
                self._stream.write(f"{CLEAR_LINE}{snapshot.line()}{end}")
                self._stream.flush()
                self._shown = not final
            elif final or time.monotonic() - self._last >= self._every:
                self._stream.write(snapshot.line() + "\n")
                self._stream.flush()
                self._last = time.monotonic()

    def clear(self) -> None:
        """Erase the unfinished progress line, if any, leaving the cursor at column 0."""
        with self._lock:
            if self._shown:
                self._stream.write(CLEAR_LINE)
                self._stream.flush()
                self._shown = False

    def __enter__(self) -> Display:
        for handler in logging.getLogger().handlers:
            handler.addFilter(self._filter)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(self._filter)
        self.clear()  # an error message printed next starts on a clean row


class _ClearBeforeLog(logging.Filter):
    """Runs just before a handler writes a record: clears the progress line first."""

    def __init__(self, display: Display) -> None:
        super().__init__()
        self._display = display

    def filter(self, record: logging.LogRecord) -> bool:
        self._display.clear()
        return True
