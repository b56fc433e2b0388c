"""Estimation set up from the settings: on with a reference and a model that fit, off with the
reason otherwise; its live gauges and report lines."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from mlmon.model.dataset import load_dataset
from mlmon.model.predictors import load_model
from mlmon.monitoring.estimation.live import Estimated
from mlmon.ops.estimation import (
    OFF_NO_REFERENCE,
    EstimateGauges,
    estimation_lines,
    estimation_report,
    fit_estimator,
)
from mlmon.settings import Settings


def diabetes_reference(path: Path, target: str = "target") -> Path:
    """The diabetes rows as a named CSV reference, the target under `target`."""
    data = load_dataset(None, "target", "id", (), ())
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*data.feature_names, target])
        rows = zip(data.features.tolist(), data.target.tolist(), strict=True)
        writer.writerows([*row, y] for row, y in rows)
    return path


def test_without_a_reference_estimation_is_off_and_says_why() -> None:
    setup = fit_estimator(Settings())
    assert setup.estimator is None
    assert setup.reason == OFF_NO_REFERENCE
    assert "MLMON_REFERENCE" in setup.reason


def test_a_reference_and_the_shipped_model_fit_a_loss_estimator(tmp_path: Path) -> None:
    reference = diabetes_reference(tmp_path / "reference.csv")
    setup = fit_estimator(Settings(reference=reference, target="target"))
    assert setup.estimator is not None
    assert setup.estimator.kind == "regression"
    assert setup.reason == (
        "on: DLE fitted on 442 rows of reference.csv, for model 'diabetes-linear'"
    )
    assert setup.model == "diabetes-linear"
    data = load_dataset(None, "target", "id", (), ())
    predicted = load_model(None).predict(data.features)
    estimated = setup.estimator.regression(data.features, predicted)
    assert estimated.cells[:, 0].sum() == 442


def test_a_reference_that_cannot_fit_turns_estimation_off_naming_why(tmp_path: Path) -> None:
    reference = diabetes_reference(tmp_path / "reference.csv", "label")  # not MLMON_TARGET
    setup = fit_estimator(Settings(reference=reference, target="target"))
    assert setup.estimator is None
    assert setup.reason.startswith("off: ")
    assert "target" in setup.reason
    small = tmp_path / "small.csv"
    small.write_text("a,b,target\n" + "".join(f"{i},{i % 3},{i}\n" for i in range(200)))
    setup = fit_estimator(Settings(reference=small, target="target"))
    assert setup.estimator is None
    assert setup.reason.startswith("off: missing feature column(s) 'age'")


def test_gauges_export_each_models_window_and_the_report_lists_it() -> None:
    gauges = EstimateGauges(window=4)
    cells = np.array([[1.0, 2.0, 4.0]] * 3 + [[1.0, 6.0, 36.0]] * 3)
    gauges.add("m", Estimated(cells))
    values = {
        (sample.name, sample.labels["model"]): sample.value
        for family in gauges.collect()
        for sample in family.samples
    }
    assert values["mlmon_estimated_mae", "m"] == pytest.approx((2.0 + 3 * 6.0) / 4)
    details = {"estimation": {"state": "on: x", "window": gauges.figures()}}
    report = estimation_report([{"updated_at": 1.0, "details": details}])
    assert report is not None
    lines = estimation_lines(report)
    assert lines[0] == "estimated quality before labels: on: x"
    assert lines[1].startswith("  m, latest estimated predictions: mae 5")
    assert estimation_report([{"details": {}}]) is None
