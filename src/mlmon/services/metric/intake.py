"""From deliveries to the join: decode and check a batch of deliveries, then offer its halves.

mlmon's own named batches go to the BatchJoin (a batch of true values meets a batch of
predictions as a whole), numeric and Arrow alike; every other record goes to the RecordJoin, one
by one. What cannot be
used (too large, undecodable, non-finite, a conflict) is gathered to be dead-lettered.
"""

from __future__ import annotations

import bisect
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.bus import Delivery
from mlmon.errors import DecodeError
from mlmon.join.batches import BatchHalf, BatchJoin, batch_keys, digest
from mlmon.join.held import Held
from mlmon.join.records import Outcome, RecordJoin
from mlmon.join.store import Orphan
from mlmon.metric_log.lines import extra_cells
from mlmon.ops.status import ServiceStats
from mlmon.services.dead_letters import Rejected, json_row, too_large
from mlmon.services.metric.arrow_halves import arrow_extras, whole_arrow_half
from mlmon.settings import Settings
from mlmon.wire import (
    BATCH,
    HEADER_BATCH,
    HEADER_FEATURES_FOR,
    HEADER_MODEL,
    HEADER_MODEL_VERSION,
    Records,
    ValueRecord,
    decode_records,
    decode_value,
    encode_batch,
    header_sent_at,
    header_str,
    record_key,
)
from mlmon.wire.arrow import ARROW, Kind, RecordColumns, decode_values_arrow, row_json
from mlmon.wire.segment_tags import with_feature_tags

log = logging.getLogger(__name__)

UNNAMED_MODEL = "unknown"  # predictions from services that do not say (the seeds')


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
        kind: Kind = "y_true" if truth else "y_pred"
        for index, reason in columns.bad.items():
            body = row_json(columns, index, kind)
            rejected.append(json_row(delivery, body, f"record {columns.ids[index]!r}: {reason}"))
        kept = [i for i in range(len(columns)) if i not in columns.bad]
        if not kept:
            return
        sent = header_sent_at(delivery.headers)
        if not truth and (columns.features is not None or columns.scores is not None):
            self.column_inputs.append((len(self.keys), kept, columns))
        self._starts.append(len(self.keys))
        self._origins.append((delivery, columns, kept))
        values, stamps = columns.values.tolist(), columns.ts.tolist()
        extras = arrow_extras(columns, self.segment)
        if columns.features is not None and HEADER_FEATURES_FOR not in delivery.headers:
            self.feature_columns.append(
                {name: column[kept] for name, column in columns.features.items()}
            )
        models, versions = columns.models, columns.versions
        for i in kept:
            self.keys.append(record_key(columns.ids[i]))
            self.values.append(values[i])
            self.sent_at.append(sent if math.isnan(stamps[i]) else stamps[i])
            self.models.append((models[i] if models else "") or model)
            self.versions.append((versions[i] if versions else "") or version)
            self.extras.append(extras[i])
        self.any_extra = self.any_extra or any(extras)

    def add_whole_arrow(self, delivery: Delivery, columns: RecordColumns, model: str) -> None:
        """What a prediction batch joined whole gives drift: the features it carries (unless
        its model service counted their drift already)."""
        if columns.features is not None and HEADER_FEATURES_FOR not in delivery.headers:
            self.feature_columns.append(columns.features)
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


Whole = tuple[Delivery, BatchHalf, list[Rejected]]  # a batch to join whole, its refused rows


@dataclass(slots=True)
class Prepared:
    """A batch of deliveries decoded and checked: what needs neither the store nor the logs."""

    truth: bool
    arrived_at: float
    halves: Halves = field(default_factory=Halves)  # records to join one by one

    def __post_init__(self) -> None:
        self.halves.truth = self.truth

    whole: list[Whole] = field(default_factory=list)
    # Prediction batches of the Arrow form joined whole, with their columns (estimation).
    whole_arrow: list[tuple[BatchHalf, RecordColumns]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)  # to dead-letter
    cells: list[Floats | None] | None = None  # each half's estimate cells (services.metric)

    def reject_conflicts(self, outcome: Outcome) -> None:
        """Dead-letter the rows the record join refused as conflicts."""
        for position, reason in outcome.conflicts:
            self.rejected.append(self.halves.rejected_at(position, reason))


def offer(
    prepared: Prepared, records: RecordJoin, batches: BatchJoin, held: Held
) -> tuple[Outcome, list[Orphan]]:
    """Offer every record of a prepared batch at once, its waiting halves belonging to `held`:
    the rows joined (and the conflicts of the record join, by position), and the predictions
    orphaned at once (missing from their true values' batch). Whole batches refused as
    conflicts, or their refused rows otherwise, go to `prepared.rejected`."""
    halves, now, rejected = prepared.halves, prepared.arrived_at, prepared.rejected
    orphans: list[Orphan] = []
    outcome = Outcome()
    if halves.keys and prepared.truth:
        outcome = records.offer_truths(halves.keys, halves.values, halves.sent_at, now, held)
    elif halves.keys:
        outcome = records.offer_predictions(
            halves.keys, halves.values, halves.models, halves.versions, halves.sent_at, now,
            held, halves.extras if halves.any_extra else None, prepared.cells,
        )  # fmt: skip
    offer_half = batches.offer_truth if prepared.truth else batches.offer_prediction
    for delivery, half, bad_rows in prepared.whole:
        offered = offer_half(half, held, outcome.joined)
        outcome.duplicates += offered.duplicates
        orphans += offered.orphans
        if offered.conflict is not None:  # the whole message, bad rows included
            rejected.append(Rejected.message(delivery, offered.conflict))
        else:
            rejected += bad_rows
    return outcome, orphans


class Intake:
    """Decodes and checks batches of deliveries; remembers whether true values came named."""

    def __init__(self, settings: Settings, stats: ServiceStats) -> None:
        self.settings = settings
        self.stats = stats
        self._named_truths = False  # true values came in named batches
        self._warned_unnamed = False

    def __repr__(self) -> str:
        return f"Intake(named_truths={self._named_truths})"

    def prepare(self, batch: list[Delivery], truth: bool) -> Prepared:
        """Every usable record of the batch: records to join one by one, column-wise, with
        where they came from; and whole batches of mlmon's own, to join as a whole, each with
        its refused rows (unless the whole message is refused)."""
        prepared = Prepared(truth, time.time())
        prepared.halves.segment = self.settings.segment_feature_names
        halves, whole, rejected, now = (
            prepared.halves, prepared.whole, prepared.rejected, prepared.arrived_at
        )  # fmt: skip
        for delivery in batch:
            records = self._decode(delivery, rejected)
            if records is None:
                continue
            if truth:
                model = version = ""
            else:
                model = header_str(delivery.headers, HEADER_MODEL) or UNNAMED_MODEL
                version = header_str(delivery.headers, HEADER_MODEL_VERSION)
            if isinstance(records, ValueRecord):
                sent_at = header_sent_at(delivery.headers)
                halves.add_one(delivery, records, sent_at, model, version)
                continue
            if isinstance(records, RecordColumns):
                name = header_str(delivery.headers, HEADER_BATCH)
                half = whole_arrow_half(name, delivery.body, records, model, version, now, truth,
                                        self.settings.segment_feature_names)  # fmt: skip
                if half is None:
                    self._unnamed_batch(truth, named=bool(name))
                    halves.add_arrow(delivery, records, model, version, truth, rejected)
                else:
                    self._named_truths = self._named_truths or truth
                    whole.append((delivery, half, []))
                    if not truth:
                        halves.add_whole_arrow(delivery, records, half.model)
                        prepared.whole_arrow.append((half, records))
                continue
            name = header_str(delivery.headers, HEADER_BATCH)
            keys = batch_keys(records.ids) if name and delivery.content_type == BATCH else None
            if keys is None:
                if delivery.content_type == BATCH:
                    self._unnamed_batch(truth, named=bool(name))
                halves.add(delivery, records, model, version, rejected)
                continue
            if truth:
                self._named_truths = True
            bad_rows: list[Rejected] = []
            kept = finite_rows(delivery, records, bad_rows)
            if kept == []:
                rejected += bad_rows
                continue
            body, message = delivery.body, digest(delivery.body)
            if kept is not None:
                records = Records(
                    [records.ids[i] for i in kept], records.values[kept], records.sent_at[kept]
                )
                keys = [keys[i] for i in kept]
                body = encode_batch(records.ids, records.values, records.sent_at)
            half = BatchHalf(
                name, keys, records.values, records.sent_at, body, message, now, model, version
            )
            whole.append((delivery, half, bad_rows))
        return prepared

    def _unnamed_batch(self, truth: bool, named: bool) -> None:
        """Count a batch joined record by record (no batch name, or a repeated id), and warn
        once when predictions come unnamed while true values come named: those two paths do
        not meet (a model from before batch names, or one that drops the header)."""
        self.stats.counters["batches_joined_by_record"] += 1
        if truth or named or not self._named_truths or self._warned_unnamed:
            return
        self._warned_unnamed = True
        log.warning(
            "predictions arrive in batches without the %s header while true values carry it: "
            "they cannot meet and will end as orphans; the model service must copy the header "
            "from its features batch (mlmon's does)",
            HEADER_BATCH,
        )

    def _decode(
        self, delivery: Delivery, rejected: list[Rejected]
    ) -> Records | ValueRecord | RecordColumns | None:
        """The delivery's records (a batch), or its one record (the single form), or None
        after rejecting the whole message."""
        reason = too_large(delivery, self.settings.max_message_bytes)
        if reason is None:
            try:
                if delivery.content_type == ARROW:
                    return decode_values_arrow(delivery.body)
                if delivery.content_type != BATCH:
                    return decode_value(delivery.body)
                return decode_records(delivery.body, delivery.content_type, False)
            except DecodeError as error:
                reason = str(error)
        rejected.append(Rejected.message(delivery, reason))
        return None
