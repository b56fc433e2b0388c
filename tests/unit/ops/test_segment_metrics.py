"""Segment gauges in the metric service's exposition: the doubled region is listed, series
stay bounded however many values a tag takes."""

from __future__ import annotations

import numpy as np
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mlmon.join.joined import Joined
from mlmon.metric_log.lines import extra_cells
from mlmon.ops.telemetry import Telemetry
from mlmon.summary.segments import SHOWN_VALUES


def _gauges(telemetry: Telemetry) -> dict[tuple[str, str, str], dict[str, float]]:
    text = generate_latest(telemetry.registry).decode()
    found: dict[tuple[str, str, str], dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("mlmon_segment_"):
                labels = (sample.labels["model"], sample.labels["key"], sample.labels["value"])
                found.setdefault(labels, {})[sample.name] = sample.value
    return found


def test_the_doubled_region_is_listed_and_series_stay_bounded() -> None:
    rng = np.random.default_rng(2)
    telemetry = Telemetry([])
    for batch in range(4):
        joined = Joined()
        for i in range(1000):
            region = ("eu", "us", "apac")[i % 3]
            error = abs(rng.normal(0, 10)) * (2 if region == "eu" else 1)
            tags = {"region": region, "user": f"u{batch}-{i}"}  # a value per row
            extra = extra_cells(None, tags)
            joined.append(
                f"k{batch}-{i}",
                (100.0, None, 1.0),
                ("m", "1", 100.0 + error, None, 0.0, extra),
                1.0,
            )
        telemetry.observe(joined, 2.0)
    gauges = _gauges(telemetry)
    listed = {labels for labels, values in gauges.items() if values["mlmon_segment_listed"] == 1}
    assert listed == {("m", "region", "eu")}
    eu = gauges[("m", "region", "eu")]
    assert eu["mlmon_segment_rows"] == 4 * 334  # every third of 4 x 1,000 rows
    assert 0.4 < eu["mlmon_segment_worse_by"] < 0.6  # twice the others: 2 / (4 / 3) - 1
    users = [labels for labels in gauges if labels[1] == "user"]
    assert len(users) == SHOWN_VALUES  # 4,000 values, a few series
