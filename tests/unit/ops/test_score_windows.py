"""LiveQuality's score figures (ops/score_windows.py): log loss, Brier, ROC AUC one-vs-rest
macro and ECE of a classifier's rows with scores over the count and time windows, as
mlmon_window_* gauges and in the status details, against scikit-learn on the same rows."""

from __future__ import annotations

import time

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from mlmon.join.joined import Joined
from mlmon.metric_log.lines import extra_cells
from mlmon.monitoring.quality.scores import score_figures
from mlmon.ops.monitors import LiveQuality
from mlmon.settings import Settings
from mlmon.wire.labels import label_code

CLASSES = ("Adelie", "Chinstrap", "Gentoo")
SCORE_NAMES = ("log_loss", "brier", "roc_auc", "ece")


def gauges(quality: LiveQuality) -> dict[tuple[str, str, str], float]:
    """(figure, model, window) -> value of every mlmon_window_* sample a scrape shows."""
    registry = CollectorRegistry()
    registry.register(quality)
    text = generate_latest(registry).decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if "quantile" not in sample.labels:
                name = sample.name.removeprefix("mlmon_window_")
                found[(name, sample.labels["model"], sample.labels["window"])] = sample.value
    return found


def rows(n: int, seed: int, scored_share: float = 0.8) -> tuple[list[str], np.ndarray, list[str]]:
    """n rows: true labels (text), probabilities (rows x CLASSES, summing to 1) and each row's
    scores and tags cells, a share of them without scores (an empty cell, or tags alone)."""
    rng = np.random.default_rng(seed)
    truth = [CLASSES[i] for i in rng.integers(0, len(CLASSES), n)]
    probabilities = rng.dirichlet([1.0, 1.0, 1.0], n)
    for i, label in enumerate(truth):  # a somewhat good model
        probabilities[i, CLASSES.index(label)] += 1.0
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    with_scores = rng.random(n) < scored_share
    cells = []
    for i in range(n):
        scores = dict(zip(CLASSES, probabilities[i].tolist(), strict=True))
        tags = {"region": "eu"} if i % 3 == 0 else None
        cells.append(extra_cells(scores if with_scores[i] else None, tags))
    probabilities[~with_scores] = np.nan
    return truth, probabilities, cells


def join(
    joined: Joined, model: str, truth: list[str], cells: list[str], at: float, first: int = 0
) -> None:
    codes = np.array([label_code(label) for label in truth])
    predicted = np.array([label_code(CLASSES[0])] * len(truth))
    keys = [f"{model}-{first + i}" for i in range(len(truth))]
    joined.extend(keys, codes, predicted, model, "1", np.full(len(truth), at), at, 0.0, cells)


def sklearn_figures(truth: list[str], probabilities: np.ndarray) -> dict[str, float]:
    """Log loss, Brier and ROC AUC (ovr, macro) of the rows with scores, by scikit-learn."""
    scored = ~np.isnan(probabilities).any(axis=1)
    y = [label for label, keep in zip(truth, scored, strict=True) if keep]
    p = probabilities[scored]
    labels = list(CLASSES)
    return {
        "log_loss": float(log_loss(y, p, labels=labels)),
        "brier": float(brier_score_loss(y, p, labels=labels)),
        "roc_auc": float(roc_auc_score(y, p, labels=labels, multi_class="ovr", average="macro")),
    }


def test_gauges_are_the_score_figures_of_the_windows_rows_with_scores() -> None:
    """300 rows in three batches and a few pairs one by one, a fifth without scores; a count
    window of 200: the gauges are scikit-learn's figures (and scores.py's ECE) over the last
    200 rows' scored ones, the time window's over all 300; rows without scores left out."""
    settings = Settings(task="classification", quality_window=200, quality_seconds=60.0)
    quality = LiveQuality(settings)
    truth, probabilities, cells = rows(300, seed=1)
    base = time.time() - 30.0  # the scrape's clock: every row within the last minute
    for start, at in ((0, base), (100, base + 1.0), (200, base + 2.0)):
        joined = Joined()
        join(joined, "m", truth[start : start + 90], cells[start : start + 90], at, start)
        for i in range(start + 90, start + 100):  # pairs one by one, another model between
            prediction = ("m", "1", label_code(CLASSES[0]), at, at, cells[i])
            joined.append(f"p{i}", (label_code(truth[i]), at, at), prediction, at)
            joined.append(f"q{i}", (1.0, at, at), ("plain", "1", 1.0, at, at, ""), at)
        quality.add(joined)
    found = gauges(quality)
    for window, first in (("last_200", 100), ("last_60s", 0)):
        expected = sklearn_figures(truth[first:], probabilities[first:])
        codes = np.array([label_code(label) for label in truth[first:]])
        classes = [label_code(label) for label in CLASSES]
        ours = score_figures(codes, probabilities[first:], classes)
        expected["ece"] = float(ours.ece or 0.0)
        for name in SCORE_NAMES:
            assert found[(name, "m", window)] == pytest.approx(expected[name], rel=1e-9), name
    assert found[("log_loss", "m", "last_200")] != found[("log_loss", "m", "last_60s")]
    assert not any(key[1] == "plain" for key in found if key[0] in SCORE_NAMES)  # no scores
    details = quality.details(base + 10.0)
    scored = int((~np.isnan(probabilities[100:]).any(axis=1)).sum())
    assert 0 < details["m"]["last_200"]["scored_rows"] == scored < 200
    assert details["m"]["last_200"]["count"] == 200
    assert details["m"]["last_200"]["log_loss"] == found[("log_loss", "m", "last_200")]
    assert "log_loss" not in details["m"]["all"]  # live over the two windows only
    assert "log_loss" not in details["plain"]["last_200"]


def test_older_rows_leave_the_time_window_and_the_count_window() -> None:
    """A bad batch, then a good one 100 s later: the 60 s window holds the good one alone, the
    count window both; once more rows come than it holds, the bad ones leave it too. Under
    MLMON_TASK=regression (the default) scores turn the windows into a classifier's."""
    quality = LiveQuality(Settings(quality_window=150, quality_seconds=60.0))
    truth, probabilities, cells = rows(100, seed=2, scored_share=1.0)
    bad_truth = [CLASSES[(CLASSES.index(label) + 1) % 3] for label in truth[:50]]
    joined = Joined()
    join(joined, "m", bad_truth, cells[:50], 0.0)
    join(joined, "m", truth[50:], cells[50:], 100.0, 50)
    quality.add(joined)
    found = gauges(quality)  # now: the clock's, long after both: read `details` for times
    assert quality.details(50.0)["m"]["last_60s"]["scored_rows"] == 100  # both batches
    details = quality.details(120.0)["m"]  # the bad batch expired: no longer the same figures
    good = sklearn_figures(truth[50:], probabilities[50:])
    both = sklearn_figures(bad_truth + truth[50:], probabilities)
    assert details["last_60s"]["log_loss"] == pytest.approx(good["log_loss"], rel=1e-9)
    assert details["last_60s"]["scored_rows"] == 50
    assert details["last_150"]["log_loss"] == pytest.approx(both["log_loss"], rel=1e-9)
    assert found[("log_loss", "m", "last_150")] == pytest.approx(both["log_loss"], rel=1e-9)
    assert ("log_loss", "m", "last_60s") not in found  # no row joined in the last minute
    more_truth, _, more_cells = rows(100, seed=3, scored_share=0.0)  # rows without scores
    later = Joined()
    join(later, "m", more_truth, more_cells, 130.0, 100)
    quality.add(later)
    details = quality.details(130.0)["m"]
    # The last 150 rows: 50 good ones with scores and 100 without; the bad ones are gone.
    assert details["last_150"]["scored_rows"] == 50
    assert details["last_150"]["log_loss"] == pytest.approx(good["log_loss"], rel=1e-9)


def test_roc_auc_is_absent_with_one_true_class() -> None:
    """Every true label the same class: no AUC (no gauge, not 0), the other figures there."""
    quality = LiveQuality(Settings(task="classification"))
    truth, _, cells = rows(40, seed=4, scored_share=1.0)
    joined = Joined()
    join(joined, "m", [CLASSES[1]] * 40, cells, 5.0)
    quality.add(joined)
    found = gauges(quality)
    assert not any(key[0] == "roc_auc" for key in found)
    assert ("log_loss", "m", "last_500") in found
    assert ("ece", "m", "last_500") in found
    details = quality.details(6.0)["m"]
    assert details["last_500"]["roc_auc"] is None
    assert details["last_60s"]["scored_rows"] == 40
    assert truth  # the scores name three classes; the truth had one


def test_a_true_label_the_scores_do_not_name_has_probability_zero() -> None:
    """An unknown true class counts p = 0 (as scores.py does): a large log loss, Brier 1 + sum
    of the squared probabilities."""
    quality = LiveQuality(Settings(task="classification"))
    joined = Joined()
    cells = [extra_cells({"Adelie": 0.75, "Gentoo": 0.25}, None)] * 2
    join(joined, "m", ["Emperor", "Adelie"], cells, 5.0)
    quality.add(joined)
    details = quality.details(6.0)["m"]["last_500"]
    assert details["scored_rows"] == 2
    eps = np.finfo(np.float64).eps
    assert details["log_loss"] == pytest.approx((-np.log(eps) - np.log(0.75)) / 2)
    assert details["brier"] == pytest.approx(((1 + 0.75**2 + 0.25**2) + (0.25**2 + 0.25**2)) / 2)


def test_the_live_report_counts_true_labels_of_a_class_never_scored() -> None:
    """The status names the classes scored, so the live report (`class_window` of the
    metric's status) counts the rows of an unknown class, as the report from the log does."""
    from mlmon.ops.class_report import class_window

    quality = LiveQuality(Settings(task="classification"))
    joined = Joined()
    cells = [extra_cells({"Adelie": 0.75, "Gentoo": 0.25}, None)] * 3
    join(joined, "m", ["Emperor", "Adelie", "Emperor"], cells, 5.0)
    quality.add(joined)
    window = class_window(quality.details(6.0)["m"]["last_500"])
    assert window["unknown_class_rows"] == 2
    assert "score_classes" not in window


def test_scores_given_as_numbers_give_the_figures_their_cells_give() -> None:
    """Batches joined whole bring their scores as numbers (not parsed from the cells): the same
    figures as the same rows with cells only; mixed with pairs (cells only) too."""
    truth, probabilities, cells = rows(300, seed=5)
    classes = tuple(label_code(label, remember=False) for label in CLASSES)
    found = {}
    for numbers in (True, False):
        quality = LiveQuality(Settings(task="classification", quality_window=250))
        for start in (0, 100, 200):
            joined = Joined()
            part = slice(start, start + 100)
            codes = np.array([label_code(label) for label in truth[part]])
            scores = (classes, probabilities[part]) if numbers else None
            joined.extend(
                [f"k{start + i}" for i in range(100)], codes, np.full(100, classes[0]), "m",
                "1", np.full(100, 5.0 + start), 5.0 + start, 0.0, cells[part], scores,
            )  # fmt: skip
            if start == 100:  # a pair one by one: cells only, so this fold parses them
                prediction = ("m", "1", classes[0], 5.0, 5.0, cells[0])
                joined.append("pair", (label_code(truth[0]), 5.0, 5.0), prediction, 5.0)
            quality.add(joined)
            quality.details(210.0)  # a fold per batch: two of them all numbers
        found[numbers] = quality.details(210.0)["m"]
    for window in ("last_250", "last_60s"):
        for name in (*SCORE_NAMES, "scored_rows"):
            assert found[True][window][name] == pytest.approx(found[False][window][name]), name
    assert found[True]["last_250"]["scored_rows"] > 150
