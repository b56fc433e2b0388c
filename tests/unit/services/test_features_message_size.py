"""Producers keep every message within MLMON_MAX_MESSAGE_BYTES, which each consumer enforces by
dead-lettering what is larger: a batch of a wide dataset's records is split, and a limit too
small for one record is a configuration error at start-up, not a stream of dead letters."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mlmon.bus.memory import MemoryBus
from mlmon.errors import ConfigError
from mlmon.ids import IdGenerator
from mlmon.ops.status import ServiceStats
from mlmon.services.features import run_features
from mlmon.settings import Settings
from mlmon.wire import (
    MAX_ID_CHARS,
    batch_records_within,
    decode_records,
    encode_batch,
    encode_features,
    encode_value,
    single_bytes_at_most,
)

LONGEST_ID = "f" * MAX_ID_CHARS


@pytest.mark.parametrize("columns", [0, 1, 10, 100, 1000])
@pytest.mark.parametrize("max_bytes", [10_000, 100_000, 1_000_000])
def test_a_batch_of_the_bound_fits_and_two_more_records_would_not(
    columns: int, max_bytes: int
) -> None:
    def size(records: int) -> int:
        shape = (records, columns) if columns else (records,)
        values = np.full(shape, -2.2250738585072014e-308)
        return len(encode_batch([LONGEST_ID] * records, values, np.zeros(records)))

    records = batch_records_within(max_bytes, columns, batch_size=10**9)
    assert records >= 1
    assert size(records) <= max_bytes
    # The bound leaves room for up to 11 bytes of framing it never uses, so one record more
    # may still fit; two never do: it wastes less than two records.
    assert size(records + 2) > max_bytes


def test_the_batch_size_caps_the_bound_and_a_record_too_wide_gives_zero() -> None:
    assert batch_records_within(1_000_000, 10, batch_size=2000) == 2000
    assert batch_records_within(1_000, 1_000, batch_size=2000) == 0


@given(
    st.text(alphabet="0123456789abcdef-", max_size=MAX_ID_CHARS),
    st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=50),
)
@example(LONGEST_ID, [-2.2250738585072014e-308, -0.000012345678901234568] * 25)
def test_a_single_record_message_never_exceeds_its_bound(
    record_id: str, values: list[float]
) -> None:
    assert len(encode_features(record_id, values)) <= single_bytes_at_most(len(values))
    assert len(encode_value(record_id, values[0])) <= single_bytes_at_most(0)


def test_mlmon_ids_stay_within_the_bounds_assumption() -> None:
    """The size bounds assume ids of at most MAX_ID_CHARS: mlmon's are a 12-digit run, a dash
    and a counter, which a 64-bit count never takes past 33 characters."""
    generator = IdGenerator()
    assert len(generator.run) + 1 + len(str(2**64)) <= MAX_ID_CHARS
    assert len(generator()) <= MAX_ID_CHARS


def wide_settings(tmp_path: Path, columns: int, **overrides: Any) -> Settings:
    """Settings streaming a 50-row CSV of `columns` random features and a target y."""
    path = tmp_path / "wide.csv"
    generator = np.random.default_rng(1)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*(f"x{i}" for i in range(columns)), "y"])
        writer.writerows(generator.normal(size=(50, columns + 1)).tolist())
    return Settings(logs_dir=tmp_path, dataset=path, target="y", **overrides)


async def test_features_split_a_wide_datasets_batches_within_the_limit(tmp_path: Path) -> None:
    """2,000 records of 120 features take ~2 MB: over the default 1 MB limit, every batch
    would have been dead-lettered by the model."""
    settings = wide_settings(tmp_path, columns=120, count=5000, rate=0)
    bus = MemoryBus()
    sent = await asyncio.wait_for(
        run_features(settings, bus, ServiceStats("features"), asyncio.Event()), 30
    )
    assert sent == 5000
    for queue in (settings.queue_features, settings.queue_y_true):
        sizes, records = [], 0
        while await bus.depth(queue):
            for delivery in await anext(bus.batches(queue, 1000, 0)):
                sizes.append(len(delivery.body))
                decoded = decode_records(
                    delivery.body, delivery.content_type, queue == settings.queue_features
                )
                records += len(decoded.ids)
        assert records == 5000
        assert max(sizes) <= settings.max_message_bytes
    assert len(sizes) > 5000 // settings.batch_size + 1  # split, not sent whole


@pytest.mark.parametrize("form", ["batched", "single"])
async def test_a_limit_too_small_for_one_record_fails_at_start_naming_the_setting(
    tmp_path: Path, form: str
) -> None:
    settings = wide_settings(
        tmp_path, columns=200, count=10, max_message_bytes=1000, wire_format=form
    )
    bus = MemoryBus()
    with pytest.raises(ConfigError, match="MLMON_MAX_MESSAGE_BYTES=1000"):
        await run_features(settings, bus, ServiceStats("features"), asyncio.Event())
    assert await bus.depth(settings.queue_features) == 0
