"""Rows of a metric log, and a sink that keeps what it is handed: for the metric_log tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlmon.metric_log.reader import RowBlock

HEADER = "id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at\n"
SEED_HEADER = "id,y_true,y_pred,absolute_error\n"


def row(key: str, error: float, model: str = "linear") -> str:
    return f"{key},1.0,{1.0 + error!r},{error!r},{model},1,1700000000.0,1700000000.5\n"


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8", newline="") as handle:
        handle.write(text)


class KeptRows:
    """A sink that keeps every row it is handed (as the reader itself did before): for tests."""

    columns: tuple[str, ...] = ()  # only what a test asks for

    def __init__(self) -> None:
        self.blocks: list[RowBlock] = []
        self.resets = 0

    def add(self, block: RowBlock) -> None:
        self.blocks.append(block)

    def reset(self) -> None:
        self.blocks.clear()
        self.resets += 1

    @property
    def errors(self) -> np.ndarray:
        return np.concatenate([np.empty(0), *(block.errors for block in self.blocks)])

    @property
    def models(self) -> np.ndarray:
        return np.array([b.names[c] for b in self.blocks for c in b.codes], dtype=np.str_)

    def column(self, name: str) -> np.ndarray:
        return np.concatenate([np.empty(0), *(block.column(name) for block in self.blocks)])
