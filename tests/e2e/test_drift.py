"""Drift end to end: a shifted stream is flagged in the report, an unshifted one is not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mlmon.model.dataset import load_dataset
from tests.e2e.cli import mlmon
from tests.e2e.webhook import webhook_receiver


def write_csv(path: Path, features: np.ndarray, target: np.ndarray, names: tuple[str, ...]) -> None:
    rows = [",".join([*names, "target"])]
    rows += [
        ",".join(repr(float(v)) for v in (*row, y)) for row, y in zip(features, target, strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")


def drift_after_run(tmp_path: Path, shift_bmi: float) -> tuple[dict[str, Any], list[Any]]:
    data = load_dataset()
    reference, stream = tmp_path / "reference.csv", tmp_path / "stream.csv"
    write_csv(reference, data.features, data.target, data.feature_names)
    shifted = data.features.copy()
    bmi = data.feature_names.index("bmi")
    shifted[:, bmi] += shift_bmi * data.features[:, bmi].std()
    write_csv(stream, shifted, data.target, data.feature_names)
    logs = tmp_path / "logs"
    with webhook_receiver() as (url, received):
        env = {
            "MLMON_REFERENCE": str(reference),
            "MLMON_SEED": "5",
            "MLMON_ALERTS": "bmi-drift: psi[bmi] > 0.2",
            "MLMON_ALERT_WEBHOOK": url,
        }
        result = run_up(logs, stream, env)
    assert result.returncode == 0, result.stderr
    report = mlmon("report", "--json", "--logs", str(logs))
    drift = json.loads(report.stdout)["drift"]
    assert drift is not None
    return drift, received


def run_up(logs: Path, stream: Path, env: dict[str, str]) -> Any:
    return mlmon(
        "up",
        "--count",
        "1500",
        "--rate",
        "500",
        "--logs",
        str(logs),
        "--dataset",
        str(stream),
        "--target",
        "target",
        env=env,
    )


def test_a_shifted_feature_is_flagged(tmp_path: Path) -> None:
    """bmi shifted by one standard deviation: bmi (and so the prediction) drift, nothing
    else, and the drift alert is POSTed to the webhook."""
    drift, received = drift_after_run(tmp_path, 1.0)
    assert "bmi" in drift["drifted_columns"]
    assert set(drift["drifted_columns"]) <= {"bmi", "prediction"}
    firing = [body for body in received if body["state"] == "firing"]
    assert [body["alert"] for body in firing] == ["bmi-drift"]
    assert firing[0]["value"] > 0.2
    assert firing[0]["series"] == "diabetes-linear"


def test_an_unshifted_stream_is_not_flagged(tmp_path: Path) -> None:
    """The reference data streamed back: no column drifts and no alert is sent."""
    drift, received = drift_after_run(tmp_path, 0.0)
    assert drift["drifted_columns"] == []
    assert received == []
