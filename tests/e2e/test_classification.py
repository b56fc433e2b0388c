"""Classification end to end: 0/1 errors in the log, accuracy and confusion in the report."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from tests.e2e.cli import mlmon


def test_a_classifier_is_monitored_with_classification_figures(tmp_path: Path) -> None:
    """With MLMON_TASK=classification a trusted scikit-learn classifier's rows carry a 0/1
    error, and the report's accuracy, F1 and confusion matrix equal scikit-learn's on them."""
    features, labels = make_classification(n_samples=400, n_features=5, random_state=0)
    data = tmp_path / "data.csv"
    lines = ["f0,f1,f2,f3,f4,label"]
    lines += [
        ",".join(repr(float(v)) for v in (*row, y)) for row, y in zip(features, labels, strict=True)
    ]
    data.write_text("\n".join(lines) + "\n")
    model = tmp_path / "classifier.pkl"
    model.write_bytes(pickle.dumps(LogisticRegression().fit(features[:200], labels[:200])))
    logs = tmp_path / "logs"
    result = mlmon(
        "up",
        "--model",
        str(model),
        "--trust-pickle",
        "--dataset",
        str(data),
        "--target",
        "label",
        "--count",
        "600",
        "--rate",
        "0",
        "--logs",
        str(logs),
        env={"MLMON_TASK": "classification"},
    )
    assert result.returncode == 0, result.stderr
    with (logs / "metric_log.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    y_true = np.array([float(r["y_true"]) for r in rows])
    y_pred = np.array([float(r["y_pred"]) for r in rows])
    errors = np.array([float(r["absolute_error"]) for r in rows])
    assert len(rows) == 600
    np.testing.assert_array_equal(errors, (y_true != y_pred).astype(float))
    report = mlmon("report", "--json", "--logs", str(logs), env={"MLMON_TASK": "classification"})
    figures = json.loads(report.stdout)["models"]["classifier"]["all"]
    assert figures["count"] == 600
    assert abs(figures["accuracy"] - accuracy_score(y_true, y_pred)) < 1e-12
    assert abs(figures["f1"] - f1_score(y_true, y_pred, average="macro")) < 1e-12
    assert sum(map(sum, figures["confusion"])) == 600
    assert 0.5 < figures["accuracy"] < 1.0  # a real classifier, not a constant
    table = mlmon("report", "--logs", str(logs), env={"MLMON_TASK": "classification"}).stdout
    assert "accuracy" in table
