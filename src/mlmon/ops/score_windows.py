"""A classifier's score figures (log loss, Brier, ROC AUC one-vs-rest macro, ECE) over the live
quality windows: the last N rows of a model and its rows joined in the last T seconds.

`LiveQuality` hands each model's folded rows here with their scores and tags cells (the
metric log's last two cells, `JoinedPart.extras`). Those cells are kept as text and parsed
only when a snapshot reads them, once per chunk: parsing JSON costs 1-2 us a row, and a row
that leaves both windows before the next snapshot (most rows at high rates) is never parsed.
Rows without scores take their place in the count window but do not count in the figures;
the figures themselves are `monitoring.quality.scores.score_figures`, exactly.

A time window keeps at most `SCORE_ROWS` rows (its newest) for these figures, so a snapshot's
cost stays bounded at any rate (parsing costs ~7 us a row, the figures ~2 us): past that, its
score figures cover the newest SCORE_ROWS rows of the window. A model's figures are computed
again only when its rows or the rows in its time window changed since the last snapshot.
"""

from __future__ import annotations

import csv
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from mlmon.arrays import Floats
from mlmon.metric_log.cells import ScoreMatrix, parse_scores
from mlmon.monitoring.quality.scores import NO_SCORES, ScoreFigures, score_figures

SCORE_ROWS = 10_000  # rows of a time window the score figures cover at most (its newest)

# The gauges' names and help, and the ScoreFigures field each reads.
SCORE_GAUGES = {
    "log_loss": ("log_loss", "log loss of the rows with scores (rows without are left out)"),
    "brier": ("brier", "multi-class Brier score of the rows with scores (rows without left out)"),
    "roc_auc": (
        "roc_auc_ovr",
        "ROC AUC one-vs-rest macro of the rows with scores (rows without left out; absent "
        "with fewer than two true classes)",
    ),
    "ece": ("ece", "expected calibration error, 15 bins, of the rows with scores (rows without "
            "left out)"),
}  # fmt: skip


@dataclass
class _Chunk:
    """Rows of one model folded together: true labels, join times, scores and tags cells."""

    y_true: Floats
    at: Floats
    cells: list[str] | None  # None: no row has scores or tags
    matrix: ScoreMatrix | None = None  # the cells' scores, parsed when first read

    def scores(self) -> ScoreMatrix:
        if self.matrix is None:
            if self.cells is None:
                self.matrix = ScoreMatrix.empty(len(self.y_true))
            else:
                first = (row[0] if row else "" for row in csv.reader(self.cells))
                # Keys stay uncoded: in the metric service a producer's score keys must not
                # use up the labels' budget (wire.labels), and a code needs no remembering.
                self.matrix = parse_scores(list(first), remember=False)
        return self.matrix


class ScoreWindows:
    """Per model, the rows that may still be in its count or time window, and their figures."""

    def __init__(self, count: int, seconds: float, keep: int = SCORE_ROWS) -> None:
        self.count = count
        self.seconds = seconds
        self.keep = max(keep, count)
        self.names = (f"last_{count}", f"last_{seconds:g}s")  # as QualityTracker names them
        self._chunks: dict[str, deque[_Chunk]] = {}
        self._held: dict[str, int] = {}
        self._newest: dict[str, float] = {}
        # Per model: (rows added, first row in the time window) when last computed, figures.
        self._cached: dict[str, tuple[tuple[int, int], dict[str, ScoreFigures]]] = {}
        self._added: dict[str, int] = {}

    def add(
        self,
        model: str,
        y_true: Floats,
        at: Floats,
        extras: list[str] | None,
        scores: ScoreMatrix | None = None,
    ) -> None:
        """A model's rows, oldest first; `extras` each row's "scores,tags" cells (None: none),
        `scores` the same scores as numbers when the rows brought them so (not parsed then)."""
        n = len(y_true)
        if n == 0:
            return
        newest = max(self._newest.get(model, -math.inf), float(at.max()))
        self._newest[model] = newest
        self._added[model] = self._added.get(model, 0) + n
        # Only the rows either window may still hold: the last `count`, and those joined
        # within `seconds` of the newest (join times only rise, so the others never return).
        start = max(0, n - self.count)
        recent = np.flatnonzero(at > newest - self.seconds)
        if recent.size:
            start = min(start, int(recent[0]))
        start = max(start, n - self.keep)
        if extras is not None and not any(extras[start:]):
            extras = None
        chunk = _Chunk(y_true[start:], at[start:], None if extras is None else extras[start:])
        if scores is not None and chunk.cells is not None:
            chunk.matrix = scores.select(slice(start, n))
        chunks = self._chunks.setdefault(model, deque())
        chunks.append(chunk)
        held = self._held.get(model, 0) + len(chunk.y_true)
        while len(chunks) > 1:
            oldest = chunks[0]
            rest = held - len(oldest.y_true)
            expired = float(oldest.at.max()) <= newest - self.seconds
            if rest < self.count or not (expired or rest >= self.keep):
                break
            chunks.popleft()
            held = rest
        self._held[model] = held

    def held(self) -> int:
        return sum(self._held.values())

    def view(self) -> ScoreView:
        """What `figures` reads, copied under the caller's lock: the figures themselves are
        then computed outside it (tens of ms over a full window), so that joined rows go on
        being added meanwhile."""
        return ScoreView(
            self,
            {model: list(chunks) for model, chunks in self._chunks.items()},
            dict(self._added),
        )

    def figures(self, now: float) -> dict[str, dict[str, ScoreFigures]]:
        """Model -> window name -> score figures, for the models that gave scores at all."""
        return self.view().figures(now)


@dataclass
class ScoreView:
    """The rows of every model's windows at one moment, to compute their figures from."""

    windows: ScoreWindows
    chunks: dict[str, list[_Chunk]]
    added: dict[str, int]

    def figures(self, now: float) -> dict[str, dict[str, ScoreFigures]]:
        """Model -> window name -> score figures, for the models that gave scores at all; a
        model's are computed again only when its rows or its time window changed."""
        windows = self.windows
        report: dict[str, dict[str, ScoreFigures]] = {}
        for model, chunks in self.chunks.items():
            if all(chunk.cells is None for chunk in chunks):
                continue
            at = np.concatenate([chunk.at for chunk in chunks])
            timed = np.flatnonzero(at > now - windows.seconds)[-windows.keep :]
            key = (self.added[model], int(timed[0]) if timed.size else len(at))
            cached = windows._cached.get(model)
            if cached is not None and cached[0] == key:
                report[model] = cached[1]
                continue
            matrices = [chunk.scores() for chunk in chunks]
            classes = tuple(dict.fromkeys(code for m in matrices for code in m.classes))
            if not classes:
                continue
            scores = np.concatenate([m.aligned(classes) for m in matrices])
            y_true = np.concatenate([chunk.y_true for chunk in chunks])
            last = slice(max(0, len(y_true) - windows.count), len(y_true))
            report[model] = {
                windows.names[0]: _figures(y_true[last], scores[last], classes),
                windows.names[1]: _figures(y_true[timed], scores[timed], classes),
            }
            windows._cached[model] = (key, report[model])
        return report


def _figures(y_true: Floats, scores: Floats, classes: tuple[float, ...]) -> ScoreFigures:
    """`score_figures`, without importing scikit-learn for a window with no scored row."""
    if not np.logical_not(np.isnan(scores).any(axis=1)).any():
        return NO_SCORES
    return score_figures(y_true, scores, classes)
