"""Change detection on the error stream, per model and per segment: river's detectors (pure).

Each stream (a model, or a model's segment `key=value` from the rows' tags) gets two detectors:

- regression, on the absolute error: ADWIN (adaptive windowing; sees a change of the mean in
  either direction) and Page-Hinkley (cumulative deviation; sees a rise of the error);
- classification, on the 0/1 error: ADWIN and DDM (drift detection method).

Page-Hinkley's tolerance and threshold are absolute in river, so a regression stream feeds it
its errors divided by their mean over the stream's first `warmup` rows: the same settings then
hold for a model whose errors are in the tens and one whose errors are in thousandths.

Fed in log order, the same rows give the same change points, so a detector's state never has to
be saved: reading the (exactly-once) log again from its top rebuilds it exactly, and a restarted
reader reports what an uninterrupted one did. Memory is bounded: `max_segments` streams per
model, in order of first appearance (so a replay picks the same ones); rows of later segments
count only in their model's stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from mlmon.arrays import rows_by_model

REGRESSION_DETECTORS = ("adwin", "page_hinkley")
CLASSIFICATION_DETECTORS = ("adwin", "ddm")
DETECTORS = tuple(dict.fromkeys(REGRESSION_DETECTORS + CLASSIFICATION_DETECTORS))


@dataclass(frozen=True)
class DetectorConfig:
    """The detectors' settings (river's names); defaults measured in docs/change-detection.md."""

    adwin_delta: float = 1e-4  # the confidence of a cut (river: 0.002, which misfired)
    ph_delta: float = 0.2  # Page-Hinkley's tolerance, in units of the warm-up mean error
    ph_threshold: float = 100.0  # ... and its alarm level, in the same units
    ddm_threshold: float = 4.0  # DDM's alarm level in standard deviations (river's 3 misfired)
    warmup: int = 1000  # rows before Page-Hinkley (its scale) and DDM (its baseline) start
    max_segments: int = 32  # segment streams per model


@dataclass(frozen=True)
class ChangePoint:
    """A detector flagged a change at this row of the log."""

    row: int  # 1-based number of the row in the log (rows with a finite error)
    model: str
    segment: str  # "" for the model's whole stream, else "key=value"
    detector: str
    joined_at: float  # the row's join time (NaN if the log has none)
    sent_at: float  # its event time (NaN if unknown)
    mean_before: float  # the stream's mean error since its previous change point (or start)
    rows_before: int  # how many rows that mean is over


class _Detector(Protocol):
    @property
    def drift_detected(self) -> bool: ...

    def update(self, x: float) -> None: ...


def load_river_drift() -> Any:
    """river's drift module, imported on first use: river brings pandas and scipy.stats along
    (seconds), and every service imports this module for the names of its detectors (alert
    rules). The plot service calls this at start-up, so the import is not paid by the first
    rows, beside the pipeline's own work."""
    from river import drift

    return drift


class _Stream:
    """One error stream's two detectors, and per detector the rows since its last change
    point and their error sum."""

    __slots__ = ("_adwin", "_other", "_other_name", "_scale", "_since", "_warm", "_warm_rows")

    def __init__(self, classified: bool, config: DetectorConfig) -> None:
        drift = load_river_drift()

        self._adwin: _Detector = drift.ADWIN(delta=config.adwin_delta)
        self._other: _Detector
        if classified:
            self._other = drift.binary.DDM(
                warm_start=config.warmup, drift_threshold=config.ddm_threshold
            )
            self._other_name = "ddm"
            self._scale: float | None = 1.0
        else:
            self._other = drift.PageHinkley(
                delta=config.ph_delta, threshold=config.ph_threshold, alpha=1.0, mode="up"
            )
            self._other_name, self._scale = "page_hinkley", None
        self._warm: list[float] = []
        self._warm_rows = config.warmup
        self._since = [0, 0.0, 0, 0.0]  # ADWIN's rows and sum, then the other's

    @property
    def detectors(self) -> tuple[str, str]:
        return ("adwin", self._other_name)

    def update(self, values: list[float]) -> list[tuple[int, str, float, int]]:
        """Feed errors in order; per change point: (index in `values`, detector, mean error
        since that detector's previous change point, rows in that mean)."""
        found: list[tuple[int, str, float, int]] = []
        adwin, other, name = self._adwin, self._other, self._other_name
        since = self._since
        for index, value in enumerate(values):
            adwin.update(value)
            since[0] += 1
            since[1] += value
            since[2] += 1
            since[3] += value
            if self._scale is None:
                self._warm.append(value)
                if len(self._warm) >= self._warm_rows:
                    mean = sum(self._warm) / len(self._warm)
                    self._scale = mean if mean > 0 else 1.0
                    self._warm = []
            else:
                other.update(value / self._scale)
                if other.drift_detected:
                    found.append((index, name, since[3] / since[2], int(since[2])))
                    since[2], since[3] = 0, 0.0
            if adwin.drift_detected:
                found.append((index, "adwin", since[1] / since[0], int(since[0])))
                since[0], since[1] = 0, 0.0
        return found


class ChangeDetection:
    """Change points of the log's error streams, fed block by block in log order."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        self.reset()

    def reset(self) -> None:
        """Forget every stream: the log is read again from its top."""
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._segments: dict[str, int] = {}  # model -> segment streams it has
        self.rows = 0  # rows taken so far
        self.untracked_segment_rows = 0  # rows of segments past max_segments

    def streams(self) -> list[tuple[str, str, tuple[str, str]]]:
        """(model, segment, its detectors) of every stream, in order of first appearance."""
        return [(model, segment, s.detectors) for (model, segment), s in self._streams.items()]

    def add(
        self,
        errors: npt.NDArray[np.float64],
        codes: npt.NDArray[np.int32],
        names: Sequence[str],
        classified: npt.NDArray[np.bool_],
        joined_at: npt.NDArray[np.float64],
        sent_at: npt.NDArray[np.float64],
        tags: Sequence[dict[str, str] | None] | None = None,
    ) -> list[ChangePoint]:
        """Take the next rows of the log (per row its model's code in `names`); return their
        change points in row order."""
        first = self.rows
        self.rows += len(errors)
        positions = np.arange(len(errors))
        groups: dict[tuple[str, str], npt.NDArray[np.intp]] = {
            (names[code], ""): positions[rows] for code, rows in rows_by_model(codes)
        }
        if tags is not None:
            segments: dict[tuple[str, str], list[int]] = {}
            row_codes = codes.tolist()
            for index, row_tags in enumerate(tags):
                if row_tags:
                    model = names[row_codes[index]]
                    for key, value in row_tags.items():
                        segments.setdefault((model, f"{key}={value}"), []).append(index)
            groups.update((key, np.array(rows, dtype=np.intp)) for key, rows in segments.items())
        found: list[ChangePoint] = []
        for (model, segment), rows in groups.items():
            stream = self._stream(model, segment, bool(classified[rows[0]]))
            if stream is None:
                self.untracked_segment_rows += len(rows)
                continue
            for index, detector, mean, count in stream.update(errors[rows].tolist()):
                row = int(rows[index])
                found.append(
                    ChangePoint(
                        first + row + 1,
                        model,
                        segment,
                        detector,
                        float(joined_at[row]),
                        float(sent_at[row]),
                        mean,
                        count,
                    )
                )
        found.sort(key=lambda point: (point.row, point.segment, point.detector))
        return found

    def _stream(self, model: str, segment: str, classified: bool) -> _Stream | None:
        stream = self._streams.get((model, segment))
        if stream is not None:
            return stream
        if segment:
            if self._segments.get(model, 0) >= self.config.max_segments:
                return None
            self._segments[model] = self._segments.get(model, 0) + 1
        stream = self._streams[model, segment] = _Stream(classified, self.config)
        return stream
