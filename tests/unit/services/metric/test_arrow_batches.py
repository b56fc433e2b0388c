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

from mlmon.bus import OutMessage
from mlmon.bus.memory import MemoryBus
from mlmon.join.counts import read_predicted
from mlmon.ops.status import ServiceStats
from mlmon.services.metric.service import MetricService
from mlmon.settings import Settings
from mlmon.wire import HEADER_BATCH
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
