"""From deliveries to the join: decode and check a batch of deliveries, then offer its halves.

mlmon's own named batches go to the BatchJoin (a batch of true values meets a batch of
predictions as a whole), numeric and Arrow alike; every other record goes to the RecordJoin, one
by one. What cannot be used (too large, undecodable, non-finite, a conflict) is gathered to be
dead-lettered.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from mlmon.arrays import Floats
from mlmon.bus import Delivery
from mlmon.errors import DecodeError
from mlmon.join.batches import BatchHalf, BatchJoin, batch_keys, digest
from mlmon.join.held import Held
from mlmon.join.records import Outcome, RecordJoin
from mlmon.join.store import Orphan
from mlmon.ops.status import ServiceStats
from mlmon.services.dead_letters import Rejected, bad_arrow_rows, too_large
from mlmon.services.metric.arrow_halves import ArrowWhole, whole_arrow_half
from mlmon.services.metric.halves import Halves, finite_rows
from mlmon.settings import Settings
from mlmon.wire import (
    BATCH,
    HEADER_BATCH,
    HEADER_MODEL,
    HEADER_MODEL_VERSION,
    Records,
    ValueRecord,
    decode_records,
    decode_value,
    encode_batch,
    header_sent_at,
    header_str,
)
from mlmon.wire.arrow import ARROW, RecordColumns, decode_values_arrow

log = logging.getLogger(__name__)

UNNAMED_MODEL = "unknown"  # predictions from services that do not say (the seeds')


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
    # Prediction batches of the Arrow form joined whole, with their columns and the rows of
    # them each holds (estimation).
    whole_arrow: list[tuple[BatchHalf, RecordColumns, list[int]]] = field(default_factory=list)
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
        self._warned_named: set[str] = set()

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
                self._arrow(delivery, records, model, version, prepared)
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

    def _arrow(
        self, delivery: Delivery, columns: RecordColumns, model: str, version: str,
        prepared: Prepared,
    ) -> None:  # fmt: skip
        """An Arrow batch: joined whole when named (its refused rows dead-lettered alone),
        else record by record."""
        truth, halves = prepared.truth, prepared.halves
        name = header_str(delivery.headers, HEADER_BATCH)
        found = whole_arrow_half(
            name, delivery.body, columns, model, version, header_sent_at(delivery.headers),
            prepared.arrived_at, truth, self.settings.segment_feature_names,
        )  # fmt: skip
        if not isinstance(found, ArrowWhole):
            if found is not None:  # named, yet it cannot join whole: its partner will wait
                self._not_whole(name, found)
            self._unnamed_batch(truth, named=bool(name))
            halves.add_arrow(delivery, columns, model, version, truth, prepared.rejected)
            return
        bad_rows = bad_arrow_rows(delivery, columns, "y_true" if truth else "y_pred")
        if not found.kept:
            prepared.rejected.extend(bad_rows)
            return
        self._named_truths = self._named_truths or truth
        prepared.whole.append((delivery, found.half, bad_rows))
        if not truth:
            halves.add_whole_arrow(delivery, columns, found.half.model, found.kept)
            prepared.whole_arrow.append((found.half, columns, found.kept))

    def _not_whole(self, name: str, why: str) -> None:
        """Say (once per reason) that a named Arrow batch is joined record by record: the
        other half of that batch, if named and whole, will not meet it."""
        self.stats.counters["named_batches_joined_by_record"] += 1
        if why in self._warned_named:
            return
        self._warned_named.add(why)
        log.warning(
            "Arrow batch %r is named (%s) but %s: joined record by record, it cannot meet "
            "the other half of its batch if that one is joined whole (its rows end as "
            "orphans); name batches only as mlmon's services do",
            name, HEADER_BATCH, why,
        )  # fmt: skip

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
