"""mlmon.client against the real broker and metric service: what is logged is joined, once;
a full buffer is a clear error, not a blocked caller."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from mlmon.client import BufferFull, Monitor
from mlmon.errors import MlmonError
from mlmon.settings import Settings
from tests.integration.pipeline import running, wait_for_rows


async def test_logged_predictions_and_labels_reach_the_log(rabbit_settings: Settings) -> None:
    s = rabbit_settings
    n = 3_000
    async with running(s, services=("metric",)):
        monitor = await asyncio.to_thread(
            Monitor, settings=s, model="spam-filter", version="4", batch_size=1_000
        )
        try:
            for i in range(n):
                spam = 0.9 if i % 3 else 0.2
                monitor.log_prediction(
                    f"c-{i}", "spam" if i % 3 else "ham",
                    scores={"spam": spam, "ham": round(1 - spam, 6)},
                    features={"length": float(i), "lang": None if i % 7 == 0 else "en"},
                    tags={"tenant": f"t{i % 2}"}, ts=1.7e9 + i,
                )  # fmt: skip
            monitor.log_labels([f"c-{i}" for i in range(n)], ["spam"] * n)
            await asyncio.to_thread(monitor.flush, 30)
        finally:
            await asyncio.to_thread(monitor.close)
        rows = await wait_for_rows(s.logs_dir, n)
    assert monitor.published == {"y_pred": n, "y_true": n}
    assert len({row["id"] for row in rows}) == n
    wrong = [row for row in rows if row["absolute_error"] == "1.0"]
    assert len(wrong) == n // 3  # the hams
    row = next(r for r in rows if r["id"] == "c-5")
    assert (row["model"], row["model_version"], row["y_pred"]) == ("spam-filter", "4", "spam")
    assert float(row["sent_at"]) == 1.7e9 + 5
    assert json.loads(row["tags"]) == {"tenant": "t1"}
    assert json.loads(row["scores"]) == {"spam": 0.9, "ham": 0.1}


async def test_a_prediction_without_ts_is_stamped_when_logged(rabbit_settings: Settings) -> None:
    """Quality by prediction time needs each prediction's time: without `ts` the client
    stamps the time of the call (one call and a DataFrame-style call alike)."""
    s = rabbit_settings
    async with running(s, services=("metric",)):
        monitor = await asyncio.to_thread(Monitor, settings=s, model="m")
        try:
            before = time.time()
            monitor.log_prediction("one", 1.0)
            monitor.log_predictions(["two", "three"], [2.0, 3.0], ts=[None, 1.7e9])
            after = time.time()
            monitor.log_labels(["one", "two", "three"], [1.5, 2.5, 3.5])
            await asyncio.to_thread(monitor.flush, 30)
        finally:
            await asyncio.to_thread(monitor.close)
        rows = {row["id"]: row for row in await wait_for_rows(s.logs_dir, 3)}
    assert before <= float(rows["one"]["sent_at"]) <= after
    assert before <= float(rows["two"]["sent_at"]) <= after
    assert float(rows["three"]["sent_at"]) == 1.7e9


@pytest.mark.alone  # bounds a duration
def test_a_full_buffer_raises_at_once_instead_of_blocking(
    rabbit_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the publishing stalled, the call past max_buffered raises BufferFull within
    max_block, naming the broker; nothing before it is dropped."""

    async def stalled(*_: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(Monitor, "_send", stalled)
    monitor = Monitor(
        settings=rabbit_settings, max_buffered=100, max_block=0.2, flush_interval=0.01
    )
    for i in range(100):
        monitor.log_label(i, 1.0)
    started = time.monotonic()
    with pytest.raises(BufferFull, match=r"100 records wait unpublished .*reachable"):
        monitor.log_label(100, 1.0)
    assert time.monotonic() - started < 1.0
    with pytest.raises(TimeoutError, match="100 records still unconfirmed"):
        monitor.flush(timeout=0.3)


def test_a_record_logged_after_close_is_refused(rabbit_settings: Settings) -> None:
    monitor = Monitor(settings=rabbit_settings)
    monitor.close()
    with pytest.raises(MlmonError, match="closed"):
        monitor.log_label(1, 1.0)


def test_a_batch_over_the_message_limit_is_split(rabbit_settings: Settings) -> None:
    """Records that as one Arrow message would exceed MLMON_MAX_MESSAGE_BYTES go in several,
    each within it; numpy scalars are taken as Python values."""
    import numpy as np

    from mlmon.client.monitor import _messages_of, _Record

    settings = rabbit_settings.model_copy(update={"max_message_bytes": 20_000})
    monitor = Monitor(settings=settings)
    try:
        records = [
            _Record(np.int64(i), np.float32(0.5), None, {f"x{j}": float(j) for j in range(20)})
            for i in range(2_000)
        ]
        messages = _messages_of(monitor, records, True, {})
    finally:
        monitor.close()
    assert len(messages) > 1
    assert all(len(m.body) <= 20_000 for m in messages)
