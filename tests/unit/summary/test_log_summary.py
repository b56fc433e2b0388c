"""LogSummary: exact running figures, a bounded sample, and memory that does not grow."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from mlmon.dashboard.aggregates import model_summaries
from mlmon.metric_log.reader import MetricLogReader, RowBlock
from mlmon.summary.log_summary import SCATTER_POINTS, LogSummary

HEADER = "id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at\n"


def block(
    errors: np.ndarray, codes: np.ndarray, names: tuple[str, ...], start_time: float = 1.7e9
) -> RowBlock:
    times = start_time + np.arange(len(errors)) / 1000  # 1,000 rows a second
    return RowBlock(
        errors, codes, names, {"y_true": errors, "y_pred": 2 * errors, "joined_at": times}
    )


def test_figures_are_exact_however_the_rows_are_split() -> None:
    """Mean, std, min and max merged block by block equal numpy's over every row, even for
    errors far from zero whose spread is tiny (no cancellation in the std)."""
    rng = np.random.default_rng(0)
    errors = 1e6 + rng.normal(0, 1e-3, 30_000)
    summary = LogSummary()
    for piece in np.array_split(errors, [1, 2, 500, 501, 20_000]):
        summary.add(block(piece, np.zeros(len(piece), np.int32), ("m",)))
    (group,) = summary.error_groups()
    assert group.count == 30_000
    assert group.mean == pytest.approx(errors.mean(), rel=1e-14)
    assert group.std == pytest.approx(errors.std(), rel=1e-6)
    assert (group.low, group.high) == (errors.min(), errors.max())
    assert not group.sampled
    assert group.median() == np.median(errors)  # the sample is every row: exact


def test_sample_is_bounded_and_stated() -> None:
    summary = LogSummary(sample_size=1_000)
    errors = np.random.default_rng(1).exponential(5.0, 50_000)
    summary.add(block(errors, np.zeros(50_000, np.int32), ("m",)))
    (group,) = summary.error_groups()
    assert group.count == 50_000
    assert len(group.sample) == 1_000
    assert group.sampled
    assert group.scale == 50.0
    assert group.mean == pytest.approx(errors.mean(), rel=1e-12)


def test_latest_pairs_keep_the_last_rows_of_each_model() -> None:
    summary = LogSummary()
    errors = np.arange(2_000, dtype=np.float64)
    codes = (np.arange(2_000) % 2).astype(np.int32)
    for piece, own in zip(np.array_split(errors, 9), np.array_split(codes, 9), strict=True):
        summary.add(block(piece, own, ("even", "odd")))
    even, odd = summary.models
    assert even.y_true.tolist() == errors[codes == 0][-SCATTER_POINTS:].tolist()
    assert odd.y_pred.tolist() == (2 * errors[codes == 1][-SCATTER_POINTS:]).tolist()


def test_reset_forgets_everything() -> None:
    summary = LogSummary()
    summary.add(block(np.ones(10), np.zeros(10, np.int32), ("m",)))
    summary.reset()
    assert summary.rows == 0
    assert summary.names == ()
    assert summary.error_groups() == []
    assert summary.over_time.series(summary.names)["models"] == []


def test_a_replaced_or_cut_log_resets_the_summary(tmp_path: Path) -> None:
    """The reader tells the summary when the log starts over: nothing of the old one stays."""
    path = tmp_path / "metric_log.csv"
    path.write_text(HEADER + "".join(f"a{i},1,2,1.0,old,1,0,{i}\n" for i in range(100)))
    summary = LogSummary()
    reader = MetricLogReader(path, summary)
    reader.poll()
    assert [s["model"] for s in model_summaries(summary)] == ["old"]
    replacement = tmp_path / "new.csv"
    replacement.write_text(HEADER + "".join(f"b{i},1,4,3.0,new,1,0,{i}\n" for i in range(7)))
    os.replace(replacement, path)
    reader.poll()
    (figures,) = model_summaries(summary)
    assert (figures["model"], figures["rows"], figures["mae"]) == ("new", 7, 3.0)
    with path.open("r+b") as handle:  # cut back: the metric service dropping uncommitted rows
        handle.truncate(len(HEADER) + 2 * len("b0,1,4,3.0,new,1,0,0\n"))
    reader.poll()
    assert model_summaries(summary)[0]["rows"] == 2
    assert summary.rows == 2


def test_a_reader_parses_the_columns_the_summary_needs_unasked(tmp_path: Path) -> None:
    """Built without `extra`, the reader still hands the summary y_true, y_pred and joined_at:
    the bias, the scatter and the time axis are not silently lost."""
    path = tmp_path / "metric_log.csv"
    path.write_text(HEADER + "".join(f"a{i},1,3,2.0,m,1,0,{1.7e9 + i}\n" for i in range(10)))
    summary = LogSummary()
    MetricLogReader(path, summary).poll()
    (model,) = summary.models
    assert model.bias == 2.0
    assert model.y_true.tolist() == [1.0] * 10
    assert summary.over_time.series(summary.names)["axis"] == "time"


def warm_up_interpreter(blocks: int = 2_500) -> None:
    """Feed a throwaway summary more small blocks than CPython's free lists hold objects.

    tracemalloc counts objects CPython parks on its free lists to reuse (tuples of each size,
    up to 2,000 of a size): freed tuples of the over-time code's calls stay counted, some
    hundred bytes a chunk, until a list is full. Run alone, the test saw those lists fill
    inside its measure (about 90 kB over 180 chunks, plus its own dict of readings); after
    other tests they were full already. Filled here first, what is left to measure is the
    summary's own memory, whatever ran before."""
    rng = np.random.default_rng(0)
    warm = LogSummary(100)
    for chunk in range(blocks):
        codes = (rng.random(500) < 0.3).astype(np.int32)
        warm.add(block(rng.exponential(10.0, 500), codes, ("a", "b"), 1.7e9 + chunk * 50))


def test_memory_stays_bounded_over_ten_million_rows() -> None:
    """Ten million rows of two models, 50,000 at a time (what a day at 1,000 rows/s would be
    a tenth of): the arrays held stop growing once the samples are full, the bytes Python
    and numpy hold stay under a fixed bound, and the counts and means stay exact. Keeping the
    rows would take 360 MB."""
    sample_size = 100_000
    # Two samples of 8-byte errors, the latest pairs, and ~120 over-time slots per axis.
    bound = 2 * (sample_size * 8 + 2 * SCATTER_POINTS * 8 + 2 * 122 * 24)
    warm_up_interpreter()
    summary = LogSummary(sample_size)
    rng = np.random.default_rng(2)
    total, rows = 0.0, 0
    held_at = np.zeros(200, np.int64)  # allocated before tracing: the measure adds nothing
    tracemalloc.start()
    try:
        for chunk in range(200):
            errors = rng.exponential(10.0, 50_000)
            codes = (rng.random(50_000) < 0.3).astype(np.int32)
            summary.add(block(errors, codes, ("champion", "challenger"), 1.7e9 + chunk * 50))
            total += float(errors.sum())
            rows += len(errors)
            assert summary.nbytes <= bound
            del errors, codes
            held_at[chunk] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # Past 1M rows the samples are full: nothing more is kept, whatever comes.
    assert held_at[199] - held_at[20] < 100_000
    assert held_at[199] < bound + 1_000_000  # plus the figures' few objects and numpy's own
    assert summary.rows == rows == 10_000_000
    champion, challenger = summary.error_groups()
    assert champion.count + challenger.count == rows
    mae = (champion.mean * champion.count + challenger.mean * challenger.count) / rows
    assert mae == pytest.approx(total / rows, rel=1e-12)
    assert len(champion.sample) == len(challenger.sample) == sample_size
    assert champion.median() == pytest.approx(10.0 * np.log(2), rel=0.02)


def test_a_model_column_with_a_name_per_row_costs_bounded_memory(tmp_path: Path) -> None:
    """20,000 rows each naming another model once took 165 MB (a figures object, a 1,024-value
    sample and slots per name); past the reader's cap they are one group, and a model's sample
    starts small."""
    path = tmp_path / "metric_log.csv"
    lines = (f"a{i},1,2,1.0,id-{i},1,0,{1.7e9 + i / 1000}\n" for i in range(20_000))
    path.write_text(HEADER + "".join(lines))
    summary = LogSummary()
    MetricLogReader(path, summary).poll()
    assert len(summary.names) == 33
    assert summary.models[-1].count == 20_000 - 32
    assert summary.nbytes < 200_000


def test_text_labels_are_no_values_to_draw(tmp_path: Path) -> None:
    """A classifier's text labels reach the summary as codes: its bias and pairs leave them
    out (NaN), as when the reader read them as NaN; its errors (0/1) count as ever."""
    path = tmp_path / "metric_log.csv"
    path.write_text(HEADER + "a,Adelie,Gentoo,1.0,m,1,,1.0\nb,Adelie,Adelie,0.0,m,1,,2.0\n")
    summary = LogSummary()
    MetricLogReader(path, summary).poll()
    (model,) = summary.models
    assert model.count == 2
    assert model.mae == 0.5
    assert np.isnan(model.bias)
    assert np.isnan(model.y_true).all()
    assert np.isnan(model.y_pred).all()
