"""The records of a batch of deliveries joined one by one, column-wise (`Halves`), with where
each came from, so that a refused one is dead-lettered alone; and the rows of mlmon's numeric
batches with a finite value (`finite_rows`)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmon.bus import Delivery
from mlmon.metric_log.lines import extra_cells
from mlmon.services.dead_letters import Rejected, bad_arrow_rows, json_row
from mlmon.services.metric.arrow_halves import arrow_extras
from mlmon.wire import (
    HEADER_FEATURES_FOR,
    Records,
    ValueRecord,
    header_sent_at,
    record_key,
)
from mlmon.wire.arrow import Kind, RecordColumns, row_json
from mlmon.wire.segment_tags import with_feature_tags


def finite_rows(delivery: Delivery, records: Records, rejected: list[Rejected]) -> list[int] | None:
    """The rows with a finite value (None: all of them); the others are rejected."""
    if bool(np.isfinite(records.values).all()):  # only a batch can carry a non-finite one
        return None
    kept = []
    for index, (record_id, value) in enumerate(
        zip(records.ids, records.values.tolist(), strict=True)
    ):
        if math.isfinite(value):
            kept.append(index)
        else:
            reason = f"record {record_id!r}: non-finite value (NaN or Infinity)"
            rejected.append(Rejected.row(delivery, records, index, reason))
    return kept


class Halves:
    """A batch's usable records, column-wise, and which delivery and row each came from."""

    def __init__(self, truth: bool = False, segment: tuple[str, ...] = ()) -> None:
        self.truth = truth
        self.segment = segment  # features whose values become tags (MLMON_SEGMENT_FEATURES)
        self.keys: list[str] = []
        self.values: list[float] = []
        self.sent_at: list[float | None] = []
        self.models: list[str] = []
        self.versions: list[str] = []
        self.extras: list[str] = []  # the log's scores and tags cells, "" for none
        self.any_extra = False
        self.feature_model = ""  # whose features `feature_columns` holds, if not `models`
        # The named features predictions carried (for drift): rows of singles, Arrow columns.
        self.feature_rows: list[Mapping[str, float | str | None]] = []
        self.feature_columns: list[dict[str, npt.NDArray[Any]]] = []
        # What estimation needs (predictions only): singles' (position, features, scores),
        # Arrow batches' (first position, kept rows, columns).
        self.single_inputs: list[tuple[int, Any, dict[str, float] | None]] = []
        self.column_inputs: list[tuple[int, list[int], RecordColumns]] = []
        # Per delivery: its first half's position, the delivery, its records, and the rows it
        # kept (None: all of them); conflicts are rare, so they are located by bisection.
        self._starts: list[int] = []
        self._origins: list[
            tuple[Delivery, Records | ValueRecord | RecordColumns, list[int] | None]
        ] = []

    def add_one(
        self, delivery: Delivery, record: ValueRecord, sent_at: float | None, model: str,
        version: str,
    ) -> None:  # fmt: skip
        """A single-record message (finite: decode_value refuses NaN and Infinity), without
        numpy: per record, its calls cost more than the rest of this. The record's own `ts`,
        `model` and `version` fields win over the message's headers."""
        self._starts.append(len(self.keys))
        self._origins.append((delivery, record, None))
        self.keys.append(record_key(record.id))
        self.values.append(record.value)
        extra = ""
        if not record.plain:
            sent_at = record.ts if record.ts is not None else sent_at
            model = record.model or model
            version = record.version if record.version is not None else version
            tags = record.tags
            if isinstance(record.features, dict):
                if HEADER_FEATURES_FOR not in delivery.headers:  # else drift was done upstream
                    self.feature_rows.append(record.features)
                tags = with_feature_tags(tags, record.features, self.segment)
            extra = extra_cells(record.scores, tags)
            self.any_extra = self.any_extra or bool(extra)
            if not self.truth and (record.features is not None or record.scores):
                self.single_inputs.append((len(self.keys) - 1, record.features, record.scores))
        self.sent_at.append(sent_at)
        self.models.append(model)
        self.versions.append(version)
        self.extras.append(extra)

    def add(
        self,
        delivery: Delivery,
        records: Records,
        model: str,
        version: str,
        rejected: list[Rejected],
    ) -> None:
        values = records.values
        kept = finite_rows(delivery, records, rejected)
        if kept == []:
            return
        ids = records.ids if kept is None else [records.ids[i] for i in kept]
        stamps = records.sent_at if kept is None else records.sent_at[kept]
        self._starts.append(len(self.keys))
        self._origins.append((delivery, records, kept))
        self.keys += [record_key(record_id) for record_id in ids]
        self.values += (values if kept is None else values[kept]).tolist()
        if bool(np.isnan(stamps).any()):
            self.sent_at += [None if math.isnan(s) else s for s in stamps.tolist()]
        else:
            self.sent_at += stamps.tolist()
        self.models += [model] * len(ids)
        self.versions += [version] * len(ids)
        self.extras += [""] * len(ids)

    def add_arrow(
        self, delivery: Delivery, columns: RecordColumns, model: str, version: str, truth: bool,
        rejected: list[Rejected],
    ) -> None:  # fmt: skip
        """An Arrow batch's usable rows; its bad rows rejected one by one, as JSON. A row's
        own model and version columns win over the message's headers; its `ts` over the
        publish time."""
        assert columns.values is not None
        rejected += bad_arrow_rows(delivery, columns, "y_true" if truth else "y_pred")
        kept = columns.usable()
        if not kept:
            return
        sent = header_sent_at(delivery.headers)
        if not truth and (columns.features is not None or columns.scores is not None):
            self.column_inputs.append((len(self.keys), kept, columns))
        self._starts.append(len(self.keys))
        self._origins.append((delivery, columns, kept))
        values, stamps = columns.values.tolist(), columns.ts.tolist()
        extras = arrow_extras(columns, self.segment)
        features = columns.features_of(kept)
        if features is not None and HEADER_FEATURES_FOR not in delivery.headers:
            self.feature_columns.append(features)
        models, versions = columns.models, columns.versions
        for i in kept:
            self.keys.append(record_key(columns.ids[i]))
            self.values.append(values[i])
            self.sent_at.append(sent if math.isnan(stamps[i]) else stamps[i])
            self.models.append((models[i] if models else "") or model)
            self.versions.append((versions[i] if versions else "") or version)
            self.extras.append(extras[i])
        self.any_extra = self.any_extra or any(extras)

    def add_whole_arrow(
        self, delivery: Delivery, columns: RecordColumns, model: str, kept: list[int]
    ) -> None:
        """What a prediction batch joined whole gives drift: the features its `kept` rows
        carry (unless its model service counted their drift already)."""
        features = columns.features_of(kept)
        if features is not None and HEADER_FEATURES_FOR not in delivery.headers:
            self.feature_columns.append(features)
            self.feature_model = self.feature_model or model

    def rejected_at(self, position: int, reason: str) -> Rejected:
        """The half at `position` refused: its record cut out of its message."""
        which = bisect.bisect_right(self._starts, position) - 1
        delivery, records, kept = self._origins[which]
        row = position - self._starts[which]
        if kept is not None:
            row = kept[row]
        if isinstance(records, RecordColumns):
            kind: Kind = "y_true" if self.truth else "y_pred"
            return json_row(delivery, row_json(records, row, kind), reason)
        if isinstance(records, ValueRecord):  # a single record: dead-lettered as it came
            return Rejected.message(delivery, reason)
        return Rejected.row(delivery, records, row, reason)
