"""Joined records: the rows of metric_log.csv, column-wise, in the order they joined.

The joins (the record join pair by pair, the batch join batch by batch) add to a `Joined`; the
CSV lines, the live quality windows and the Prometheus histograms read it. A batch's columns
stay the numpy arrays they came in (its model, version and join time once), so none of those
readers goes through Python lists and back: at high rates that round trip cost a noticeable
share of the metric's loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.join.store import PredictionFact, TruthFact
from mlmon.wire import Y_PRED, Y_TRUE
from mlmon.wire.labels import code_mask

# Rows' class scores as numbers: the classes' label codes, and a rows x classes matrix (NaN
# where a row, or a class of it, has none).
ScoreColumns = tuple[tuple[float, ...], Floats]


@dataclass(slots=True)
class JoinedPart:
    """Rows joined together: one batch, or pairs joined one by one.

    Every column has a value per row; a batch also names its one `model` and `version`
    (None for pairs, whose rows may differ), so readers can treat it as a whole."""

    keys: list[str]
    y_true: Floats
    y_pred: Floats
    sent_at: Floats  # NaN where unknown
    joined_at: Floats
    label_delay: Floats  # from the prediction's arrival to its true value's; < 0: label first
    models: list[str]
    versions: list[str]
    model: str | None = None
    version: str | None = None
    # Whether every row has the same send time text (as mlmon's features stamps a batch), so
    # the CSV writes it once per batch: `sent_once`, None if unknown. False for pairs, and for
    # a batch sent at 0.0, since 0.0 and -0.0 compare equal but read differently.
    one_send_time: bool = False
    sent_once: float | None = None
    # Per row, the log's scores and tags cells ("" for none); None when no row has any.
    extras: list[str] | None = None
    # The scores of `extras` as numbers, when the rows came so (a batch joined whole): the
    # live windows read them without parsing the cells.
    scores: ScoreColumns | None = None

    def __len__(self) -> int:
        return len(self.keys)


class _Pairs:
    """Pairs joined one by one, gathered in lists until `Joined` reads them as a part."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.y_true: list[float] = []
        self.y_pred: list[float] = []
        self.sent_at: list[float] = []
        self.joined_at: list[float] = []
        self.label_delay: list[float] = []
        self.models: list[str] = []
        self.versions: list[str] = []
        self.extras: list[str] = []
        self.any_extra = False

    def part(self) -> JoinedPart:
        def floats(values: list[float]) -> Floats:
            return np.array(values, dtype=np.float64)

        return JoinedPart(
            keys=self.keys,
            y_true=floats(self.y_true),
            y_pred=floats(self.y_pred),
            sent_at=floats(self.sent_at),
            joined_at=floats(self.joined_at),
            label_delay=floats(self.label_delay),
            models=self.models,
            versions=self.versions,
            extras=self.extras if self.any_extra else None,
        )


class Joined:
    """Joined records in the order they joined, as parts (`parts()`)."""

    __slots__ = ("_count", "_pairs", "_parts")

    def __init__(self) -> None:
        self._parts: list[JoinedPart] = []
        self._pairs: _Pairs | None = None
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"Joined({self._count} rows in {len(self.parts())} parts)"

    def append(
        self, key: str, truth: TruthFact, prediction: PredictionFact, joined_at: float
    ) -> None:
        """One pair from a truth (value, sent_at, arrived_at) and a prediction (model,
        version, value, sent_at, arrived_at, extra); an unknown send time is None."""
        model, version, value, sent_at, arrived_at, extra = prediction
        pairs = self._pairs
        if pairs is None:
            pairs = self._pairs = _Pairs()
        # The event time is the prediction's (`ts`, or the features' publish time the model
        # copied); a label's own stands in only for a prediction that has none.
        sent = sent_at if sent_at is not None else truth[1]
        pairs.keys.append(key)
        pairs.y_true.append(truth[0])
        pairs.y_pred.append(value)
        pairs.sent_at.append(math.nan if sent is None else sent)
        pairs.joined_at.append(joined_at)
        pairs.label_delay.append(truth[2] - arrived_at)
        pairs.models.append(model)
        pairs.versions.append(version)
        pairs.extras.append(extra)
        if extra:
            pairs.any_extra = True
        self._count += 1

    def extend(
        self,
        keys: list[str],
        y_true: Floats,
        y_pred: Floats,
        model: str,
        version: str,
        sent_at: Floats,
        joined_at: float,
        label_delay: float,
        extras: list[str] | None = None,
        scores: ScoreColumns | None = None,
    ) -> None:
        """Many pairs of one model joined at once; `sent_at` NaN where unknown; `extras` each
        row's scores and tags cells (None: no row has any), `scores` the same scores as
        numbers if known. The arrays are kept, not copied:
        they may be read-only views of a message, and nobody writes to them."""
        n = len(keys)
        if not n:
            return
        self._seal()
        first = float(sent_at[0])
        if math.isnan(first):
            one_send_time, sent_once = bool(np.isnan(sent_at).all()), None
        else:
            one_send_time, sent_once = first != 0.0 and bool((sent_at == first).all()), first
        self._parts.append(
            JoinedPart(
                keys=keys,
                y_true=np.asarray(y_true, dtype=np.float64),
                y_pred=np.asarray(y_pred, dtype=np.float64),
                sent_at=np.asarray(sent_at, dtype=np.float64),
                joined_at=np.full(n, joined_at),
                label_delay=np.full(n, label_delay),
                models=[model] * n,
                versions=[version] * n,
                model=model,
                version=version,
                one_send_time=one_send_time,
                sent_once=sent_once,
                extras=extras if extras is not None and any(extras) else None,
                scores=scores,
            )
        )
        self._count += n

    def parts(self) -> list[JoinedPart]:
        """Every row, in the order joined (the list itself: read it, do not change it)."""
        self._seal()
        return self._parts

    def column(self, name: str) -> Floats:
        """One float column of every row: y_true, y_pred, sent_at, joined_at or label_delay.
        With one part, that part's own array, which may be read-only."""
        columns: list[Floats] = [getattr(part, name) for part in self.parts()]
        if len(columns) == 1:
            return columns[0]
        return np.concatenate(columns) if columns else np.empty(0)

    def classified(self) -> npt.NDArray[np.bool_]:
        """Per row, whether it is a classifier's: a class label as a value, or scores."""
        labelled = code_mask(self.column(Y_TRUE)) | code_mask(self.column(Y_PRED))
        extras = self.extras
        if extras is not None:
            labelled |= np.array([bool(extra) and extra[0] != "," for extra in extras])
        return labelled

    def errors(self, classification: bool = False) -> Floats:
        """Per row, the error the log writes: 0/1 (a wrong label) for a classifier's rows (all
        of them with `classification`), |y_true - y_pred| for the others."""
        y_true, y_pred = self.column(Y_TRUE), self.column(Y_PRED)
        with np.errstate(over="ignore", invalid="ignore"):  # inf, as Python's abs(t - p) gives
            if classification:
                wrong: Floats = (y_true != y_pred).astype(np.float64)
                return wrong
            errors: Floats = np.abs(y_true - y_pred)
            labelled = self.classified()
            if labelled.any():
                errors[labelled] = y_true[labelled] != y_pred[labelled]
        return errors

    def one_model(self) -> tuple[str, str] | None:
        """The (model, version) of every row if they share one, else None."""
        labels: set[tuple[str, str]] = set()
        for part in self.parts():
            if part.model is not None and part.version is not None:
                labels.add((part.model, part.version))
            else:
                labels.update(zip(part.models, part.versions, strict=True))
        return labels.pop() if len(labels) == 1 else None

    # Whole columns as lists: for the rare path of the CSV lines (ids that need quoting).

    @property
    def keys(self) -> list[str]:
        return [key for part in self.parts() for key in part.keys]

    @property
    def models(self) -> list[str]:
        return [model for part in self.parts() for model in part.models]

    @property
    def versions(self) -> list[str]:
        return [version for part in self.parts() for version in part.versions]

    @property
    def extras(self) -> list[str] | None:
        """Per row, the log's scores and tags cells ("" for none); None when none has any."""
        parts = self.parts()
        if all(part.extras is None for part in parts):
            return None
        return [
            extra
            for part in parts
            for extra in (part.extras if part.extras is not None else [""] * len(part))
        ]

    @property
    def sent_at(self) -> list[float | None]:
        """None where unknown."""
        return [None if math.isnan(s) else s for s in _as_list(self.column("sent_at"))]

    @property
    def joined_at(self) -> list[float]:
        return _as_list(self.column("joined_at"))

    def _seal(self) -> None:
        """Pairs gathered one by one become a part of their own, keeping the order."""
        if self._pairs is not None:
            self._parts.append(self._pairs.part())
            self._pairs = None


def _as_list(values: Floats) -> list[float]:
    column: list[float] = values.tolist()
    return column
