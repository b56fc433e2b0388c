"""Every metric log of a logs directory read as one: the single metric's `metric_log.csv`, or
the log shards of several metric workers (`metric-shards/K-of-N/metric_log.csv`).

`MergedLogReader` keeps one `MetricLogReader` per file (new shards are found at each poll) and
hands all their blocks to one sink, with each block's model codes translated to one table of
names, so the sink sees one log. Rows of different shards interleave in the order they are
read; within a shard they keep the log's order. When one file starts over (cut back after a
crash, replaced), every file is read again from the top into a reset sink, so no row is ever
counted twice or left out.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from mlmon.metric_log.layout import METRIC_LOG, metric_logs
from mlmon.metric_log.reader import MetricLogReader, RowBlock, RowSink


class _ShardSink:
    """One file's blocks, passed on to the merged sink under the merged model codes."""

    def __init__(self, merged: MergedLogReader) -> None:
        self._merged = merged

    @property
    def columns(self) -> tuple[str, ...]:
        return self._merged.sink.columns

    def add(self, block: RowBlock) -> None:
        self._merged.add(block)

    def reset(self) -> None:
        self._merged.start_over = True


class MergedLogReader:
    """The rows of every metric log in `logs_dir`, read incrementally into one `sink`."""

    def __init__(self, logs_dir: Path, sink: RowSink, extra: tuple[str, ...] = ()) -> None:
        self.logs_dir = Path(logs_dir)
        self.path = self.logs_dir / METRIC_LOG  # the single metric's, named in messages
        self.sink = sink
        self.resets = 0
        self.start_over = False  # a file started over: read them all again
        self._extra = extra
        self._clear()

    def __repr__(self) -> str:
        return f"MergedLogReader({str(self.logs_dir)!r}, files={len(self._readers)})"

    def _clear(self) -> None:
        self._readers: dict[Path, MetricLogReader] = {}
        self._names: list[str] = []
        self._code_of: dict[str, int] = {}

    @property
    def count(self) -> int:
        """Rows read so far, over every file."""
        return sum(reader.count for reader in self._readers.values())

    @property
    def skipped(self) -> int:
        return sum(reader.skipped for reader in self._readers.values())

    @property
    def files(self) -> list[Path]:
        return list(self._readers)

    def poll(self) -> int:
        """Read the complete rows appended to any file since the last poll; return how many."""
        if self.start_over:
            self._read_again()
        taken = self._poll_all()
        if self.start_over:  # at most once a poll: a file cut back again waits for the next
            self._read_again()
            taken = self._poll_all()
        return taken

    def _poll_all(self) -> int:
        for path in metric_logs(self.logs_dir):
            if path not in self._readers:
                self._readers[path] = MetricLogReader(path, _ShardSink(self), self._extra)
        return sum(reader.poll() for reader in list(self._readers.values()))

    def _read_again(self) -> None:
        self.start_over = False
        self.resets += 1
        self._clear()
        self.sink.reset()

    def add(self, block: RowBlock) -> None:
        """A file's block under the merged model codes."""
        codes = np.array([self._code(name) for name in block.names], dtype=np.int32)
        merged = codes[block.codes] if len(codes) else block.codes
        self.sink.add(dataclasses.replace(block, codes=merged, names=tuple(self._names)))

    def _code(self, name: str) -> int:
        code = self._code_of.get(name)
        if code is None:
            code = self._code_of[name] = len(self._names)
            self._names.append(name)
        return code
