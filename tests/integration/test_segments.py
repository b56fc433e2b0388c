"""Segments through the real broker: features tagged by region (and, by
MLMON_SEGMENT_FEATURES, by the model's `sex` feature) go through the model and metric
services; the region whose errors are doubled tops the report's and the dashboard's
worst-segments tables, and nothing else is listed."""

from __future__ import annotations

import json
import time

import numpy as np

from mlmon.bus import OutMessage
from mlmon.bus.rabbit import RabbitBus
from mlmon.dashboard.state import DashboardState
from mlmon.model.predictors import load_model
from mlmon.ops.report import build_report, format_report, read_log
from mlmon.settings import Settings
from mlmon.wire.arrow import ARROW, encode_features_arrow, encode_values_arrow
from tests.integration.pipeline import running, wait_for_rows

REGIONS = ("eu", "us", "apac", "latam")
ROWS = 2000
BATCH = 500


async def test_the_region_with_doubled_errors_tops_the_worst_segments(
    rabbit_settings: Settings,
) -> None:
    s = rabbit_settings.model_copy(update={"segment_features": "sex"})
    predictor = load_model(None)
    names = predictor.feature_names
    assert names is not None
    rng = np.random.default_rng(19)
    matrix = rng.normal(0.0, 0.05, (ROWS, len(names)))
    matrix[:, names.index("sex")] = rng.choice([-0.04, 0.05], ROWS)  # two values, as in diabetes
    regions = [REGIONS[i % len(REGIONS)] for i in range(ROWS)]
    factor = np.array([2.0 if region == "eu" else 1.0 for region in regions])
    truths = predictor.predict(matrix) + rng.normal(0.0, 40.0, ROWS) * factor
    ids = [f"s-{i}" for i in range(ROWS)]
    features, labels = [], []
    for start in range(0, ROWS, BATCH):
        part = slice(start, start + BATCH)
        columns = {name: matrix[part, j] for j, name in enumerate(names)}
        tags = [{"region": region} for region in regions[part]]
        features.append(OutMessage(encode_features_arrow(ids[part], columns, tags=tags), {}, ARROW))
        labels.append(OutMessage(encode_values_arrow(ids[part], truths[part]), {}, ARROW))
    bus = RabbitBus(s, "test-segments")
    await bus.connect()
    try:
        async with running(s, predictor=predictor):
            await bus.publish(s.queue_features, features)
            await bus.publish(s.queue_y_true, labels)
            rows = await wait_for_rows(s.logs_dir, ROWS)
    finally:
        await bus.close()
    sexes = {json.loads(row["tags"])["sex"] for row in rows}
    assert sexes == {"-0.04", "0.05"}  # the feature's values, as tags
    assert {json.loads(row["tags"])["region"] for row in rows} == set(REGIONS)

    report = build_report(read_log(s.logs_dir, time.time()), {"y_true": 0, "y_pred": 0}, [])
    worst = report["segments"]["worst"]
    assert [(w["key"], w["value"]) for w in worst] == [("region", "eu")]
    assert worst[0]["model"] == predictor.name
    assert report["segments"]["tested"] == len(REGIONS) + len(sexes)
    text = format_report(report)
    assert "worst segments" in text
    assert "region=eu" in text.split("worst segments", 1)[1]

    snapshot = DashboardState(s.logs_dir).refresh([])
    shown = snapshot["segments"]["worst"]
    assert [(w["key"], w["value"]) for w in shown] == [("region", "eu")]
    assert shown[0]["low"] > shown[0]["model_error"]  # its MAE's interval is above the model's
    assert {k["key"] for k in snapshot["segments"]["keys"]} == {"region", "sex"}
