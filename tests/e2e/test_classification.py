"""Classification end to end: 0/1 errors in the log, accuracy and confusion in the report; a
log of text labels with scores reported with scikit-learn's figures."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)

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
    # Its numeric batches feed drift: the features by position and the top class probability.
    drift = json.loads(report.stdout)["drift"]
    assert drift is not None
    assert set(drift["columns"]) == {"f0", "f1", "f2", "f3", "f4", "prediction"}
    assert drift["columns"]["prediction"]["rows"] > 0
    table = mlmon("report", "--logs", str(logs), env={"MLMON_TASK": "classification"}).stdout
    assert "accuracy" in table


CLASSES = ("Adelie", "Chinstrap", "Gentoo, juvenile")  # a comma: the label is CSV-quoted
HEADER = "id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at,scores,tags"


def write_penguin_log(path: Path, rows: int = 2_000, seed: int = 5) -> dict[str, np.ndarray]:
    """A classifier's log as the metric service writes it: text labels, scores (four decimals
    summing to 1) on most rows, tags on some; a few true labels of a class it never saw."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, rows)
    logits = rng.normal(0, 1, (rows, 3))
    logits[np.arange(rows), truth] += 1.3
    units = np.floor(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True) * 10_000)
    units[:, 0] += 10_000 - units.sum(axis=1)  # whole 1e-4 steps that sum to exactly 1
    scores = units / 10_000
    predicted = scores.argmax(axis=1)
    has_scores = rng.random(rows) > 0.08
    y_true = np.array(CLASSES, dtype=object)[truth]
    y_true[rng.choice(rows, 12, replace=False)] = "Emperor"  # unknown to the model
    y_pred = np.array(CLASSES, dtype=object)[predicted]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER.split(","))
        for i in range(rows):
            cell = dict(zip(CLASSES, scores[i].tolist(), strict=True)) if has_scores[i] else None
            writer.writerow(
                [
                    f"k{i}",
                    y_true[i],
                    y_pred[i],
                    float(y_true[i] != y_pred[i]),
                    "penguins",
                    "1",
                    1.7e9 + i / 100,
                    1.7e9 + i / 100 + 0.25,
                    json.dumps(cell, separators=(",", ":")) if cell else "",
                    json.dumps({"island": "Biscoe"}) if i % 4 == 0 else "",
                ]
            )
    return {"y_true": y_true, "y_pred": y_pred, "scores": scores, "has_scores": has_scores}


def hand_ece(truth: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> float:
    top = scores.argmax(axis=1)
    confidence = scores[np.arange(len(scores)), top]
    bins = np.clip(np.ceil(confidence * 15).astype(int) - 1, 0, 14)
    gap = 0.0
    for b in range(15):
        held = bins == b
        if held.any():
            hits = (labels[top[held]] == truth[held]).sum()
            gap += abs(hits - confidence[held].sum())
    return gap / len(truth)


def test_a_text_label_log_with_scores_is_reported_as_scikit_learn_computes_it(
    tmp_path: Path,
) -> None:
    """`mlmon report --json` on 2,000 rows of text labels and quoted JSON scores, with no
    MLMON_TASK: a classifier, whose every figure equals scikit-learn's on the same rows."""
    logs = tmp_path / "logs"
    logs.mkdir()
    rows = write_penguin_log(logs / "metric_log.csv")
    result = mlmon("report", "--json", "--logs", str(logs), "--last", "300")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["task"] == "classification"
    figures = report["models"]["penguins"]["all"]
    y_true, y_pred = rows["y_true"].astype(str), rows["y_pred"].astype(str)
    labels = ["Adelie", "Chinstrap", "Emperor", "Gentoo, juvenile"]  # text: alphabetically
    assert figures["labels"] == labels
    assert figures["count"] == 2_000
    assert figures["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), rel=1e-12)
    assert figures["f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"), rel=1e-12)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    for i, label in enumerate(labels):
        got = figures["per_class"][label]
        assert got["precision"] == pytest.approx(precision[i], rel=1e-12)
        assert got["recall"] == pytest.approx(recall[i], rel=1e-12)
        assert got["f1"] == pytest.approx(f1[i], rel=1e-12)
        assert got["support"] == support[i]
    assert figures["confusion"] == confusion_matrix(y_true, y_pred, labels=labels).tolist()
    assert figures["unknown_class_rows"] == 12

    scored = rows["has_scores"]
    truth, scores = y_true[scored], rows["scores"][scored]
    assert figures["scored_rows"] == int(scored.sum()) < 2_000
    # scikit-learn's columns follow its sorted labels; "Emperor" has none: a column of 0.
    full = np.column_stack([scores[:, 0], scores[:, 1], np.zeros(len(scores)), scores[:, 2]])
    assert figures["log_loss"] == pytest.approx(log_loss(truth, full, labels=labels), rel=1e-9)
    onehot = (truth[:, None] == np.array(labels)[None, :]).astype(float)
    brier = float(np.mean(((full - onehot) ** 2).sum(axis=1)))
    assert figures["brier"] == pytest.approx(brier, rel=1e-9)
    aucs = [roc_auc_score(truth == c, scores[:, j]) for j, c in enumerate(CLASSES)]
    assert figures["roc_auc_ovr"] == pytest.approx(np.mean(aucs), rel=1e-12)
    assert figures["roc_auc_ovr"] > 0.7  # a real classifier
    assert figures["ece"] == pytest.approx(hand_ece(truth, scores, np.array(CLASSES)), rel=1e-9)
    last = report["models"]["penguins"]["last_300"]
    assert last["accuracy"] == pytest.approx(accuracy_score(y_true[-300:], y_pred[-300:]))

    table = mlmon("report", "--logs", str(logs)).stdout
    assert "Gentoo, juvenile" in table
    assert "roc_auc_ovr" in table
    assert "confusion (all): rows true, columns predicted" in table
