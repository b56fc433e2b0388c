"""`mlmon report` for classifiers: which models are classifiers, their figures by class name,
the score figures of `all`, and regression reports left exactly as they were."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlmon.metric_log import tail
from mlmon.monitoring.quality.figures import model_kind
from mlmon.ops.class_report import class_window
from mlmon.ops.report import build_report, count_orphans, current_report, format_report, read_log
from mlmon.wire.labels import label_code

FULL = "id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at,scores,tags"
EIGHT = "id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at"


def write_rows(path: Path, header: str, rows: list[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header.split(","))
        writer.writerows(rows)


def classifier_rows(
    count: int, seed: int, classes: tuple[str, ...], model: str = "m", scored: float = 0.9
) -> list[list[object]]:
    rng = np.random.default_rng(seed)
    rows: list[list[object]] = []
    for i in range(count):
        truth = int(rng.integers(0, len(classes)))
        logits = rng.normal(0, 1, len(classes))
        logits[truth] += 1.0
        p = np.round(np.exp(logits) / np.exp(logits).sum(), 4)
        pred = int(p.argmax())
        scores = json.dumps(dict(zip(classes, p.tolist(), strict=True)))
        rows.append(
            [
                f"{model}{i}",
                classes[truth],
                classes[pred],
                float(truth != pred),
                model,
                "1",
                "",
                1_000.0 + i,
                scores if rng.random() < scored else "",
                "",
            ]
        )
    return rows


def report_of(logs: Path, task: str = "regression") -> dict[str, Any]:
    return build_report(read_log(logs, now=5_000.0, task=task), count_orphans(logs), [])


def test_model_kind() -> None:
    assert model_kind("classification", 0, 0) == "classification"
    assert model_kind("regression", 0, 0) is None
    assert model_kind("regression", 10, 6) == "classification"
    assert model_kind("regression", 10, 5) == "regression"  # most, not half


def test_a_regression_log_in_ten_columns_reads_as_in_eight(tmp_path: Path) -> None:
    """Empty scores and tags change nothing: the same figures, the same text."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(500):
        truth = float(rng.normal(150, 40))
        pred = truth + float(rng.normal(0, 10))
        rows.append([f"k{i}", truth, pred, abs(truth - pred), "lin", "1", "", 1_000.0 + i])
    eight, ten = tmp_path / "eight", tmp_path / "ten"
    eight.mkdir()
    ten.mkdir()
    write_rows(eight / "metric_log.csv", EIGHT, rows)
    write_rows(ten / "metric_log.csv", FULL, [[*row, "", ""] for row in rows])
    before, after = report_of(eight), report_of(ten)
    assert after == before
    assert before["task"] == "regression"
    assert format_report(after) == format_report(before)


def test_a_stray_text_cell_does_not_make_a_classifier(tmp_path: Path) -> None:
    """One row of a regression log with text in y_true and y_pred is left out; the model stays
    a regression model."""
    rows = [[f"k{i}", 10.0 + i, 12.0 + i, 2.0, "lin", "1", "", 1_000.0 + i] for i in range(9)]
    rows.insert(4, ["bad", "oops", "what", 1.0, "lin", "1", "", 1_004.5])
    write_rows(tmp_path / "metric_log.csv", EIGHT, rows)
    report = report_of(tmp_path)
    assert report["task"] == "regression"
    windows = report["models"]["lin"]
    assert (windows["all"]["count"], windows["all"]["mae"]) == (9, 2.0)


def test_numeric_classes_with_scores_are_a_classifier_without_the_setting(tmp_path: Path) -> None:
    write_rows(tmp_path / "metric_log.csv", FULL, classifier_rows(400, 2, ("0", "1")))
    report = report_of(tmp_path)
    assert report["task"] == "classification"
    figures = report["models"]["m"]["all"]
    assert figures["labels"] == ["0", "1"]
    assert 300 < figures["scored_rows"] < 400
    assert figures["unknown_class_rows"] == 0
    assert 0.5 < figures["roc_auc_ovr"] <= 1.0
    assert list(figures["per_class"]) == ["0", "1"]


def test_the_setting_makes_numeric_labels_without_scores_a_classifier(tmp_path: Path) -> None:
    rows = [
        [
            f"k{i}",
            float(i % 3),
            float((i // 2) % 3),
            float(i % 3 != (i // 2) % 3),
            "m",
            "1",
            "",
            1_000.0 + i,
        ]
        for i in range(90)
    ]
    write_rows(tmp_path / "metric_log.csv", EIGHT, rows)
    regression = report_of(tmp_path)
    assert regression["task"] == "regression"
    report = report_of(tmp_path, task="classification")
    figures = report["models"]["m"]["all"]
    assert figures["labels"] == ["0", "1", "2"]
    assert "scored_rows" not in figures  # no scores: no score figures
    text = format_report(report)
    assert "log_loss" not in text
    assert "per class (all)" in text


@pytest.mark.parametrize("block_bytes", [tail.READ_BYTES, 2_048])
def test_blocks_give_the_figures_of_the_whole_log(
    tmp_path: Path, block_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hundred blocks or one: the score sums per block give the same figures."""
    write_rows(tmp_path / "metric_log.csv", FULL, classifier_rows(1_500, 3, ("a", "b", "c")))
    whole = report_of(tmp_path)["models"]["m"]["all"]
    monkeypatch.setattr(tail, "READ_BYTES", block_bytes)
    split = report_of(tmp_path)["models"]["m"]["all"]
    assert split.keys() == whole.keys()
    for name, value in whole.items():
        if isinstance(value, float):
            assert split[name] == pytest.approx(value, rel=1e-12), name
        else:
            assert split[name] == value, name


def test_a_regression_model_and_a_classifier_in_one_log(tmp_path: Path) -> None:
    rows = classifier_rows(200, 4, ("cat", "dog"), model="vision")
    rows += [[f"r{i}", 5.0, 6.0, 1.0, "price", "1", "", 1_000.0 + i, "", ""] for i in range(50)]
    write_rows(tmp_path / "metric_log.csv", FULL, rows)
    report = report_of(tmp_path)
    assert report["task"] == "classification"
    models = report["models"]
    assert models["price"]["all"]["mae"] == 1.0
    assert models["vision"]["all"]["labels"] == ["cat", "dog"]
    text = format_report(report)
    assert "model price" in text
    assert "model vision" in text
    assert "  dog" in text


def test_the_table_names_classes_and_cuts_long_names(tmp_path: Path) -> None:
    long = "a penguin of a very long and winding name"
    write_rows(tmp_path / "metric_log.csv", FULL, classifier_rows(300, 5, ("Adelie", long)))
    text = format_report(report_of(tmp_path))
    per_class = text.splitlines()[text.splitlines().index("") + 1]
    assert per_class.split()[:6] == ["per", "class", "(all)", "precision", "recall", "f1"]
    assert "a penguin of a very lon…" in text
    assert long not in text
    lines = text.splitlines()
    confusion = lines.index("  confusion (all): rows true, columns predicted")
    assert lines[confusion + 1].split()[0] == "Adelie"
    assert lines[confusion + 2].split()[0] == "Adelie"


def test_many_classes_leave_the_confusion_matrix_to_json(tmp_path: Path) -> None:
    classes = tuple(f"c{i:02}" for i in range(25))
    write_rows(tmp_path / "metric_log.csv", FULL, classifier_rows(500, 6, classes))
    text = format_report(report_of(tmp_path))
    assert "confusion (all): 25 classes, in --json" in text


def test_live_classification_windows_get_names_and_per_class_figures() -> None:
    """The metric service's own figures carry labels as numbers (codes for text) and their
    names, which the report uses even for a code it never met itself."""
    stranger = -(2.0**52) - 12345.0  # a code this process never made
    live = {
        "count": 2,
        "accuracy": 0.5,
        "labels": [stranger, 0.0],
        "names": ["Macaroni", "0"],
        "confusion": [[1, 1], [0, 0]],
    }
    window = class_window(live)
    assert window["labels"] == ["0", "Macaroni"]
    assert window["confusion"] == [[0, 0], [1, 1]]
    assert "names" not in window
    adelie = label_code("Adelie")
    live = {
        "count": 3,
        "accuracy": 2 / 3,
        "precision": 0.5,
        "recall": 0.5,
        "f1": 0.5,
        "labels": [1.0, adelie],
        "confusion": [[1, 0], [1, 1]],
    }
    window = class_window(live)
    assert window["labels"] == ["1", "Adelie"]
    assert window["per_class"]["Adelie"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }
    assert window["accuracy"] == 2 / 3  # the service's own figure, as it was


def test_live_score_figures_show_in_the_table() -> None:
    """A live window's score figures (the metric service's status: `roc_auc` as its gauge and
    alert rules name it) show in the report's table as the log's do (`roc_auc_ovr`)."""
    from mlmon.ops.class_report import class_notes, shown_figures
    from mlmon.ops.report import CLASSIFICATION_FIGURES

    live = {
        "count": 2, "accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5,
        "labels": [0.0, 1.0], "confusion": [[1, 0], [1, 0]],
        "scored_rows": 2, "log_loss": 0.7, "brier": 0.5, "roc_auc": 0.75, "ece": 0.1,
    }  # fmt: skip
    window = class_window(live)
    assert (window["roc_auc_ovr"], window["log_loss"], window["scored_rows"]) == (0.75, 0.7, 2)
    assert "roc_auc" not in window
    shown = shown_figures({"last_500": window}, CLASSIFICATION_FIGURES)
    assert {"log_loss", "brier", "roc_auc_ovr", "ece"} <= set(shown)
    notes = class_notes({"models": {"m": {"last_500": window, "all": {"count": 2}}}})
    assert "with scores of the count and time windows, exactly" in notes[0]


def test_current_report_on_a_text_label_log(tmp_path: Path) -> None:
    write_rows(tmp_path / "metric_log.csv", FULL, classifier_rows(100, 7, ("x", "y", "z")))
    report = current_report(tmp_path, tmp_path / "state", 5_000.0, from_log=True)
    assert report["task"] == "classification"
    assert report["join"]["rows"] == 100
    assert "roc_auc_ovr (one-vs-rest, macro)" in format_report(report)
