"""Arrow batches named as mlmon's features and model services name them join whole, and write
exactly the rows the record-by-record join writes for the same messages unnamed: class labels,
scores and tags cells included, whichever half comes first, across a restart that leaves a
half waiting on disk, with repeats counted and conflicts refused whole."""

from __future__ import annotations

import asyncio
import csv
import sqlite3
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mlmon.bus import OutMessage
from mlmon.bus.memory import MemoryBus
from mlmon.join.counts import read_predicted
from mlmon.ops.status import ServiceStats
from mlmon.services.metric.service import MetricService
from mlmon.settings import Settings
from mlmon.wire import HEADER_BATCH, sent_at_header
from mlmon.wire.arrow import ARROW, encode_values_arrow

CLASSES = ("Adelie", "Chinstrap", "Gentoo")
TS = time.time() // 300 * 300 - 3600


def batch(first: int, size: int, seed: int = 0) -> tuple[bytes, bytes, list[str]]:
    """A true values' body and a classifier's predictions' body (labels, scores, tags) for
    the ids r{first}..r{first + size - 1}."""
    rng = np.random.default_rng(seed + first)
    ids = [f"r{n}" for n in range(first, first + size)]
    truths = [CLASSES[i] for i in rng.integers(0, 3, size)]
    scores = np.round(rng.dirichlet((1.0, 1.0, 1.0), size), 6)
    labels = [CLASSES[i] for i in scores.argmax(axis=1)]
    tags = [
        {"region": ("eu", "us")[n % 2], "device": "ios"} if n % 3 else None for n in range(size)
    ]
    stamps = np.full(size, TS + first)
    truth_body = encode_values_arrow(ids, truths, ts=stamps)
    prediction_body = encode_values_arrow(
        ids, labels, ts=stamps, tags=tags, scores=(scores, CLASSES), model="hgb", version="3"
    )
    return truth_body, prediction_body, ids


def message(body: bytes, ids: list[str], named: bool) -> OutMessage:
    return OutMessage(body, {HEADER_BATCH: ids[0]} if named else {}, ARROW)


async def run_phases(
    settings: Settings, phases: list[list[tuple[str, OutMessage]]], joined: list[int]
) -> list[ServiceStats]:
    """One service per phase on the same logs (a restart in between: what waits is on disk),
    each fed its messages and stopped once it joined `joined[i]` rows (or after 0.5 s)."""
    out = []
    for phase, expected in zip(phases, joined, strict=True):
        bus, stats = MemoryBus(), ServiceStats("metric")
        task = asyncio.create_task(MetricService(settings, bus, stats).run())
        for queue, outgoing in phase:
            await bus.publish(queue, [outgoing])
        for _ in range(250 if expected else 25):
            if expected and stats.counters["joined"] >= expected:
                break
            await asyncio.sleep(0.02)
        await bus.stop_consuming()
        await asyncio.wait_for(task, 10)
        out.append(stats)
    return out


def log_rows(settings: Settings) -> dict[str, dict[str, str]]:
    """metric_log.csv by id, without the join time (it differs between runs)."""
    with (settings.logs_dir / "metric_log.csv").open(newline="") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    for row in rows.values():
        del row["joined_at"]
    return rows


def stored(settings: Settings) -> tuple[int, int]:
    """(batches, records) the join store keeps: whole batches, or one row per joined pair."""
    db = sqlite3.connect(settings.state_dir / "join.sqlite")
    try:
        (batches,) = db.execute("SELECT COUNT(*) FROM truth_batches").fetchone()
        (records,) = db.execute("SELECT COUNT(*) FROM joined").fetchone()
    finally:
        db.close()
    return batches, records


def settings_in(path: Path) -> Settings:
    return Settings(logs_dir=path, wire_format="batched")


def two_batches(named: bool) -> tuple[list[tuple[str, OutMessage]], list[tuple[str, OutMessage]]]:
    truths, predictions = [], []
    for first in (0, 50):
        truth, prediction, ids = batch(first, 50)
        truths.append(("y_true", message(truth, ids, named)))
        predictions.append(("y_pred", message(prediction, ids, named)))
    return truths, predictions


async def test_named_arrow_batches_join_whole_and_write_the_record_joins_rows(
    tmp_path: Path,
) -> None:
    runs = {}
    for named in (True, False):
        settings = settings_in(tmp_path / str(named))
        truths, predictions = two_batches(named)
        (stats,) = await run_phases(settings, [truths + predictions], [100])
        runs[named] = log_rows(settings), stats
        assert read_predicted(settings.state_dir) == {"hgb": {int(TS): 100}}
        assert stored(settings) == ((2, 0) if named else (0, 100))
    whole, by_record = runs[True][0], runs[False][0]
    assert len(whole) == 100
    assert whole == by_record
    row = whole["r1"]
    assert row["y_pred"] in CLASSES
    assert row["model"] == "hgb"
    assert row["model_version"] == "3"
    assert row["scores"].startswith('{"Adelie":')
    assert row["tags"] == '{"region":"us","device":"ios"}'
    assert whole["r0"]["tags"] == ""
    assert runs[False][1].counters["joined"] == 100


async def test_predictions_waiting_on_disk_keep_their_scores_and_tags(tmp_path: Path) -> None:
    """Labels come after a restart: the predictions' batches waited in the store, as their
    Arrow messages, and their rows still carry scores and tags."""
    runs = {}
    for named in (True, False):
        settings = settings_in(tmp_path / str(named))
        truths, predictions = two_batches(named)
        await run_phases(settings, [predictions, truths], [0, 100])
        runs[named] = log_rows(settings)
        assert read_predicted(settings.state_dir) == {"hgb": {int(TS): 100}}
        assert stored(settings) == ((2, 0) if named else (0, 100))
    assert len(runs[True]) == 100
    assert runs[True] == runs[False]
    assert all(row["scores"] for row in runs[True].values())


async def test_truths_waiting_on_disk_meet_a_partial_answer(tmp_path: Path) -> None:
    """True values first, then a restart, then a model that answered only some of the rows:
    those join; the others wait for a later answer (another model's here)."""
    settings = settings_in(tmp_path)
    truth, _, ids = batch(0, 10)
    partial_ids = ids[2:]
    partial = encode_values_arrow(
        partial_ids, ["Gentoo"] * 8, ts=np.full(8, TS), scores=None, model="hgb", version="3"
    )
    other_body = encode_values_arrow(ids, ["Adelie"] * 10, ts=np.full(10, TS), model="other")
    other = OutMessage(other_body, {HEADER_BATCH: ids[0]}, ARROW)
    await run_phases(
        settings,
        [[("y_true", message(truth, ids, True))],
         [("y_pred", OutMessage(partial, {HEADER_BATCH: ids[0]}, ARROW)), ("y_pred", other)]],
        [0, 18],
    )  # fmt: skip
    rows = []
    with (settings.logs_dir / "metric_log.csv").open(newline="") as handle:
        rows = [(row["id"], row["model"]) for row in csv.DictReader(handle)]
    assert sorted(rows) == sorted([(i, "hgb") for i in partial_ids] + [(i, "other") for i in ids])
    assert stored(settings) == (1, 0)


async def test_a_repeated_batch_counts_as_duplicates_and_an_altered_one_is_refused(
    tmp_path: Path,
) -> None:
    settings = settings_in(tmp_path)
    truth, prediction, ids = batch(0, 20)
    _, altered, _ = batch(0, 20, seed=7)  # same ids and name, other scores
    phases = [
        [("y_true", message(truth, ids, True)), ("y_pred", message(prediction, ids, True))],
        [("y_pred", message(prediction, ids, True)), ("y_pred", message(altered, ids, True)),
         ("y_true", message(truth, ids, True))],
    ]  # fmt: skip
    first, second = await run_phases(settings, phases, [20, 0])
    assert first.counters["joined"] == 20
    assert second.counters["joined"] == 0
    assert second.counters["duplicates"] == 40  # the predictions' copy and the true values'
    assert second.counters["dead_lettered"] == 1  # the altered batch, whole
    assert len(log_rows(settings)) == 20


def legacy(body: bytes) -> bytes:
    """The same Arrow message in the pre-0.15 IPC format (no continuation marker)."""
    table = pa.ipc.open_stream(body).read_all()
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(use_legacy_format=True)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


async def test_a_refused_row_is_dead_lettered_alone_and_the_rest_joins_whole(
    tmp_path: Path,
) -> None:
    """One true value and one prediction refused (an empty label; scores summing to 0.8): each
    is dead-lettered alone, the 48 others join whole, also once the true values waited on
    disk across a restart (the store keeps the usable rows only)."""
    settings = settings_in(tmp_path)
    _, _, ids = batch(0, 50)
    truths = [CLASSES[i % 3] for i in range(50)]
    truths[7] = ""
    scores = np.tile([0.2, 0.3, 0.5], (50, 1))
    scores[9] = (0.5, 0.2, 0.1)
    stamps = np.full(50, TS)
    truth = encode_values_arrow(ids, truths, ts=stamps)
    prediction = encode_values_arrow(
        ids, ["Gentoo"] * 50, ts=stamps, scores=(scores, CLASSES), model="hgb", version="3"
    )
    first, second = await run_phases(
        settings,
        [[("y_true", message(truth, ids, True))], [("y_pred", message(prediction, ids, True))]],
        [0, 48],
    )
    assert first.counters["dead_lettered"] == 1
    assert second.counters["dead_lettered"] == 1
    rows = log_rows(settings)
    assert sorted(rows) == sorted(set(ids) - {"r7", "r9"})
    assert rows["r8"]["y_true"] == CLASSES[8 % 3]
    assert rows["r8"]["scores"] == '{"Adelie":0.2,"Chinstrap":0.3,"Gentoo":0.5}'
    assert stored(settings) == (1, 0)


async def test_a_legacy_format_batch_waits_on_disk_and_joins(tmp_path: Path) -> None:
    """An Arrow stream in the pre-0.15 format (another producer's older library) is stored in
    the current one, so the store reads it back after a restart."""
    settings = settings_in(tmp_path)
    truth, prediction, ids = batch(0, 50)
    await run_phases(
        settings,
        [[("y_true", message(legacy(truth), ids, True))],
         [("y_pred", message(legacy(prediction), ids, True))]],
        [0, 50],
    )  # fmt: skip
    assert len(log_rows(settings)) == 50
    assert stored(settings) == (1, 0)


async def test_rows_without_ts_take_the_publish_time_both_ways(tmp_path: Path) -> None:
    """A named batch without `ts` joins whole; its rows are dated by the publish header, in
    memory and after waiting on disk alike."""
    for phases_of in ("memory", "disk"):
        settings = settings_in(tmp_path / phases_of)
        _, _, ids = batch(0, 10)
        truth = encode_values_arrow(ids, ["Adelie"] * 10)
        prediction = encode_values_arrow(ids, ["Adelie"] * 10, model="hgb")
        headers = {HEADER_BATCH: ids[0], **sent_at_header(TS + 7)}
        halves = [
            ("y_true", OutMessage(truth, headers, ARROW)),
            ("y_pred", OutMessage(prediction, headers, ARROW)),
        ]
        phases = [halves] if phases_of == "memory" else [halves[:1], halves[1:]]
        await run_phases(settings, phases, [10] if phases_of == "memory" else [0, 10])
        rows = log_rows(settings)
        assert len(rows) == 10
        assert {float(row["sent_at"]) for row in rows.values()} == {TS + 7}
        assert stored(settings) == (1, 0)


async def test_a_named_batch_of_several_models_is_joined_by_record_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows of two models under one batch name cannot join whole: record by record, counted
    and warned about (its named true values' batch, joined whole, will not meet them)."""
    settings = settings_in(tmp_path)
    _, _, ids = batch(0, 4)
    prediction = encode_values_arrow(
        ids, ["Adelie"] * 4, ts=np.full(4, TS), model=["a", "b", "a", "b"]
    )
    (stats,) = await run_phases(
        settings, [[("y_pred", OutMessage(prediction, {HEADER_BATCH: ids[0]}, ARROW))]], [0]
    )
    assert stats.counters["named_batches_joined_by_record"] == 1
    assert "its rows name several models" in caplog.text
