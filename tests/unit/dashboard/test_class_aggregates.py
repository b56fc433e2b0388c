"""The dashboard's classification figures, checked against scikit-learn on the same rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, roc_auc_score

from mlmon.dashboard import state as state_module
from mlmon.dashboard.classifiers import ClassCounts
from mlmon.dashboard.state import DashboardState
from mlmon.wire.labels import label_code

HEADER = "id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at,scores,tags\n"
CLASSES = ("Adelie", "Chinstrap", "Gentoo")
# (y_true, y_pred, scores) by hand: every kind of mistake, one row without scores.
ROWS = [
    ("Adelie", "Adelie", (0.8, 0.15, 0.05)),
    ("Adelie", "Adelie", (0.6, 0.3, 0.1)),
    ("Adelie", "Chinstrap", (0.3, 0.6, 0.1)),
    ("Adelie", "Gentoo", (0.2, 0.2, 0.6)),
    ("Chinstrap", "Chinstrap", (0.1, 0.85, 0.05)),
    ("Chinstrap", "Adelie", (0.5, 0.4, 0.1)),
    ("Chinstrap", "Chinstrap", (0.05, 0.9, 0.05)),
    ("Gentoo", "Gentoo", (0.0, 0.01, 0.99)),
    ("Gentoo", "Gentoo", (0.1, 0.1, 0.8)),
    ("Gentoo", "Chinstrap", (0.1, 0.5, 0.4)),
    ("Gentoo", "Gentoo", (0.2, 0.1, 0.7)),
    ("Adelie", "Adelie", None),
]


@pytest.fixture(autouse=True)
def no_task_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kind of each model comes from its rows unless a test sets MLMON_TASK."""
    monkeypatch.delenv("MLMON_TASK", raising=False)


def _scores(scores: tuple[float, ...] | None) -> str:
    if scores is None:
        return ""
    cell = json.dumps(dict(zip(CLASSES, scores, strict=True)))
    return '"' + cell.replace('"', '""') + '"'  # CSV-quoted, as the metric service writes it


def _write(logs: Path, lines: list[str]) -> None:
    (logs / "metric_log.csv").write_text(HEADER + "".join(lines), encoding="utf-8")


def _classifier_lines(model: str = "clf", start: float = 1.7e9) -> list[str]:
    return [
        f"{model}{i},{t},{p},{float(t != p)},{model},1,{start + i},{start + i + 0.5},"
        f"{_scores(s)},\n"
        for i, (t, p, s) in enumerate(ROWS)
    ]


def test_a_classifiers_figures_equal_scikit_learns(tmp_path: Path) -> None:
    _write(tmp_path, _classifier_lines())
    snapshot = DashboardState(tmp_path, task="regression").refresh([])
    y_true = [t for t, _, _ in ROWS]
    y_pred = [p for _, p, _ in ROWS]
    [figures] = snapshot["classifiers"]
    assert figures["model"] == "clf"
    assert (figures["rows"], figures["right"], figures["wrong"]) == (12, 8, 4)
    assert figures["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert figures["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    scored = [(t, s) for t, _, s in ROWS if s is not None]
    truth = [t for t, _ in scored]
    probabilities = np.array([s for _, s in scored])
    assert figures["scored_rows"] == 11
    assert figures["log_loss"] == pytest.approx(log_loss(truth, probabilities, labels=CLASSES))
    onehot = np.array([[c == t for c in CLASSES] for t in truth], dtype=float)
    brier = np.mean(np.sum((probabilities - onehot) ** 2, axis=1))
    assert figures["brier"] == pytest.approx(brier)
    auc = roc_auc_score(truth, probabilities, multi_class="ovr", average="macro", labels=CLASSES)
    assert figures["roc_auc_ovr"] == pytest.approx(auc)  # scores of 2 decimals: exact

    [confusion] = snapshot["confusion"]
    assert confusion["labels"] == list(CLASSES)  # class names, alphabetical
    assert confusion["matrix"] == confusion_matrix(y_true, y_pred, labels=CLASSES).tolist()
    assert not confusion["other"]
    # A classifier is not shown as a regression model too.
    assert snapshot["models"] == snapshot["scatter"] == snapshot["over_time"]["models"] == []
    assert snapshot["histogram"]["models"] == []


def test_accuracy_over_time_per_bucket(tmp_path: Path) -> None:
    _write(tmp_path, _classifier_lines())
    series = DashboardState(tmp_path).refresh([])["accuracy_over_time"]
    assert series["axis"] == "time"
    [model] = series["models"]
    assert sum(model["rows"]) == 12
    joined = 1.7e9 + np.arange(12) + 0.5
    right = np.array([t == p for t, p, _ in ROWS])
    for start, rows, accuracy in zip(
        series["start"], model["rows"], model["accuracy"], strict=True
    ):
        inside = (joined >= start) & (joined < start + series["width"])
        assert rows == np.count_nonzero(inside)
        expected = right[inside].mean() if rows else None
        assert accuracy == pytest.approx(expected)


def test_each_model_is_shown_its_own_way_by_the_reports_rule(tmp_path: Path) -> None:
    """A regression model beside a classifier keeps its regression figures, even with a stray
    text cell (most of its first rows are numbers: `model_kind`)."""
    regression = [
        f"r{i},{100 + i}.0,{103 + i}.0,3.0,reg,1,{1.7e9 + i},{1.7e9 + i}.5,,\n" for i in range(9)
    ]
    regression.append("r9,oops,104.0,1.0,reg,1,1700000009,1700000009.5,,\n")
    _write(tmp_path, [*regression, *_classifier_lines()])
    snapshot = DashboardState(tmp_path).refresh([])
    assert [m["model"] for m in snapshot["models"]] == ["reg"]
    assert [m["model"] for m in snapshot["histogram"]["models"]] == ["reg"]
    assert [m["model"] for m in snapshot["over_time"]["models"]] == ["reg"]
    assert [m["model"] for m in snapshot["scatter"]] == ["reg"]
    assert [m["model"] for m in snapshot["classifiers"]] == ["clf"]
    assert [m["model"] for m in snapshot["accuracy_over_time"]["models"]] == ["clf"]


def test_mlmon_task_makes_numeric_labels_a_classifier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [f"n{i},{i % 3},{(i * 7) % 3},0,num,1,{1.7e9 + i},{1.7e9 + i},,\n" for i in range(30)]
    _write(tmp_path, lines)
    assert DashboardState(tmp_path).refresh([])["classifiers"] == []
    monkeypatch.setenv("MLMON_TASK", "classification")
    snapshot = DashboardState(tmp_path).refresh([])
    assert snapshot["task"] == "classification"
    [figures] = snapshot["classifiers"]
    y_true, y_pred = [i % 3 for i in range(30)], [(i * 7) % 3 for i in range(30)]
    assert figures["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert figures["log_loss"] is None  # no scores: the page shows a dash
    [confusion] = snapshot["confusion"]
    assert confusion["labels"] == ["0", "1", "2"]
    assert confusion["matrix"] == confusion_matrix(y_true, y_pred).tolist()


def test_past_twenty_classes_the_rest_are_other_and_totals_stay_exact() -> None:
    rng = np.random.default_rng(5)
    names = [f"c{k:02d}" for k in range(30)]
    codes = np.array([label_code(name) for name in names])
    # c00..c19 ten times as common as the rest: they are the 20 busiest.
    weights = np.where(np.arange(30) < 20, 10.0, 1.0)
    true = rng.choice(30, 5000, p=weights / weights.sum())
    pred = np.where(rng.random(5000) < 0.7, true, rng.integers(0, 30, 5000))
    counts = ClassCounts()
    for block in np.array_split(np.arange(5000), 4):
        counts.add(codes[true[block]], codes[pred[block]])
    shown = counts.confusion()
    assert shown["labels"][:20] == names[:20]
    assert shown["labels"][20] == "other"
    matrix = np.array(shown["matrix"])
    full = confusion_matrix(true, pred, labels=range(30))
    assert (matrix[:20, :20] == full[:20, :20]).all()
    assert (matrix.sum(axis=1)[:20] == full.sum(axis=1)[:20]).all()  # rows per true class
    assert (matrix.sum(axis=0)[:20] == full.sum(axis=0)[:20]).all()
    assert matrix[20, 20] == full[20:, 20:].sum()
    assert matrix.sum() == 5000
    assert shown["classes"] == 30
    assert counts.macro_f1 == pytest.approx(f1_score(true, pred, average="macro"))


def test_counts_stay_bounded_past_their_limits() -> None:
    """More classes and pairs than kept: accuracy stays exact, the matrix's totals too; the
    extra classes are one, `other`, and macro F1 is flagged approximate."""
    rng = np.random.default_rng(2)
    true = rng.integers(0, 50, 4000).astype(np.float64)
    pred = np.where(rng.random(4000) < 0.5, true, rng.integers(0, 50, 4000)).astype(np.float64)
    counts = ClassCounts(class_limit=10, pair_limit=30)
    counts.add(true, pred)
    assert len(counts.codes) == 11
    assert len(counts.pairs) == 30
    assert counts.accuracy == pytest.approx(np.mean(true == pred))
    assert counts.lumped
    shown = counts.confusion()
    matrix = np.array(shown["matrix"])
    assert matrix.sum() == 4000
    assert (matrix >= 0).all()
    assert shown["other"]
    assert shown["lumped"]
    full = confusion_matrix(true, pred, labels=range(50))
    assert (matrix[:10].sum(axis=1) == full[:10].sum(axis=1)).all()


def test_a_log_started_over_clears_the_classifiers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_module, "COST_MULTIPLE", 0.0)
    _write(tmp_path, _classifier_lines())
    state = DashboardState(tmp_path)
    assert [m["model"] for m in state.refresh([])["classifiers"]] == ["clf"]
    _write(tmp_path, [])
    snapshot = state.refresh([])
    assert (snapshot["classifiers"], snapshot["confusion"]) == ([], [])
    assert snapshot["accuracy_over_time"]["models"] == []
    _write(tmp_path, _classifier_lines("other"))
    assert [m["model"] for m in state.refresh([])["classifiers"]] == ["other"]


def test_a_regression_log_has_no_classification_figures(tmp_path: Path) -> None:
    lines = [f"a{i},1,2,1.0,m,1,0,{1.7e9 + i}\n" for i in range(50)]
    (tmp_path / "metric_log.csv").write_text(HEADER.rsplit(",", 2)[0] + "\n" + "".join(lines))
    snapshot = DashboardState(tmp_path).refresh([])
    assert [m["model"] for m in snapshot["models"]] == ["m"]
    assert snapshot["task"] == "regression"
    assert (snapshot["classifiers"], snapshot["confusion"]) == ([], [])
    assert snapshot["accuracy_over_time"]["models"] == []
