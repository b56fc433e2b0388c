"""Drift end to end: a shifted stream is flagged in the report, an unshifted one is not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlmon.dataset import load_dataset
from tests.e2e.cli import mlmon


def write_csv(path: Path, features: np.ndarray, target: np.ndarray, names: tuple[str, ...]) -> None:
    rows = [",".join([*names, "target"])]
    rows += [
        ",".join(repr(float(v)) for v in (*row, y)) for row, y in zip(features, target, strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")


def drift_after_run(tmp_path: Path, shift_bmi: float) -> dict[str, object]:
    data = load_dataset()
    reference, stream = tmp_path / "reference.csv", tmp_path / "stream.csv"
    write_csv(reference, data.features, data.target, data.feature_names)
    shifted = data.features.copy()
    bmi = data.feature_names.index("bmi")
    shifted[:, bmi] += shift_bmi * data.features[:, bmi].std()
    write_csv(stream, shifted, data.target, data.feature_names)
    logs = tmp_path / "logs"
    env = {"MLMON_REFERENCE": str(reference), "MLMON_SEED": "5"}
    result = mlmon(
        "up",
        "--count",
        "1500",
        "--rate",
        "0",
        "--logs",
        str(logs),
        "--dataset",
        str(stream),
        "--target",
        "target",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    report = mlmon("report", "--json", "--logs", str(logs))
    drift = json.loads(report.stdout)["drift"]
    assert drift is not None
    return drift


def test_a_shifted_feature_is_flagged(tmp_path: Path) -> None:
    """bmi shifted by one standard deviation: bmi (and so the prediction) drift, nothing else."""
    drift = drift_after_run(tmp_path, 1.0)
    assert "bmi" in drift["drifted_columns"]
    assert set(drift["drifted_columns"]) <= {"bmi", "prediction"}


def test_an_unshifted_stream_is_not_flagged(tmp_path: Path) -> None:
    """The reference data streamed back: no column drifts."""
    assert drift_after_run(tmp_path, 0.0)["drifted_columns"] == []
