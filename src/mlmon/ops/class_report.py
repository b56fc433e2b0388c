"""`mlmon report` for classifiers: which models are classifiers, their windows' figures with
class names, per-class figures and the confusion matrix, and the score figures of `all`.

A model is a classifier when MLMON_TASK=classification, or when most of its usable rows in
the first block it appears in are classification rows (`RowBlock.classified`: a label written
as text, or scores): most, not any, so that a stray text cell in a regression log does not
turn the model into a classifier; the choice then holds for the model's later rows (a
regression model's rows with a text label are left out). Score figures (`ScoreSums`) cover
the rows of `all` that have scores; the count and time windows give label figures only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlmon.metric_log.cells import LABEL_CODE_CEILING
from mlmon.monitoring.quality.classes import class_figures
from mlmon.monitoring.quality.figures import ClassificationFigures
from mlmon.summary.class_scores import AUC_RESOLUTION, ScoreSums
from mlmon.wire.labels import remember

SCORE_FIGURES = ("scored_rows", "log_loss", "brier", "roc_auc_ovr", "ece", "unknown_class_rows")
LABELS = {
    "precision": "macro_prec",
    "recall": "macro_recall",
    "f1": "macro_f1",
    "unknown_class_rows": "unknown_class",
}
NAME_WIDTH = 24  # longer class names are cut in the text tables (the JSON has them whole)
CONFUSION_CLASSES = 20  # a larger confusion matrix is left to --json


def class_window(
    figures: ClassificationFigures | dict[str, Any], scores: ScoreSums | None = None
) -> dict[str, Any]:
    """A classification window as the report gives it: count, accuracy, the macro precision,
    recall and F1 (as the tracker computed them), labels by name in table order, the
    confusion matrix in that order, per-class figures; and with `scores` (for `all`) the
    score figures and unknown-class rows when the model gave any scores."""
    window = figures.to_dict() if isinstance(figures, ClassificationFigures) else dict(figures)
    live_classes = window.pop("score_classes", None)  # a live window's (see monitors)
    if "roc_auc" in window:  # a live window's (the metric service's status): the table's name
        window["roc_auc_ovr"] = window.pop("roc_auc")
    codes = [float(label) for label in window.get("labels", [])]
    names = window.pop("names", None)
    if isinstance(names, list) and len(names) == len(codes):
        # The process that coded the labels named them: its codes map back here too.
        coded = zip(codes, names, strict=True)
        remember((code, str(name)) for code, name in coded if code <= LABEL_CODE_CEILING)
    confusion = np.asarray(window.get("confusion", []), dtype=np.int64)
    confusion = confusion.reshape(len(codes), len(codes))
    figured = scores.figures() if scores is not None else None
    known = scores.classes if scores is not None and figured and figured.scored_rows else None
    if known is None and live_classes is not None and window.get("scored_rows"):
        known = [float(code) for code in live_classes]
    table = class_figures(codes, confusion, known)
    window["labels"] = table.names()
    window["confusion"] = table.confusion.tolist()
    window["per_class"] = table.per_class()
    if figured is not None and figured.scored_rows:
        window.update(figured.to_dict())
    if known is not None:
        window["unknown_class_rows"] = table.unknown_class_rows
    return window


def is_class_window(figures: dict[str, Any]) -> bool:
    return "accuracy" in figures


def shown_figures(windows: dict[str, dict[str, Any]], base: tuple[str, ...]) -> tuple[str, ...]:
    """The table's rows for a classifier: `base`, then the score figures if it has any."""
    scored = any(figures.get("scored_rows") for figures in windows.values())
    return (*base, *SCORE_FIGURES) if scored else base


def class_tables(windows: dict[str, dict[str, Any]]) -> list[str]:
    """Per-class figures and the confusion matrix of `all`, by class name."""
    figures = windows.get("all", {})
    per_class: dict[str, dict[str, Any]] = figures.get("per_class", {})
    if not per_class:
        return []
    names = [_name(name) for name in per_class]
    width = max(16, *(len(name) + 2 for name in names))
    lines = [f"  {'per class (all)':<{width}}" + "".join(f"{h:>11}" for h in _PER_CLASS)]
    for name, row in zip(names, per_class.values(), strict=True):
        cells = [f"{row[h]:.4g}" for h in _PER_CLASS[:3]] + [f"{row['support']:,}"]
        lines.append(f"  {name:<{width}}" + "".join(f"{c:>11}" for c in cells))
    lines.append("")
    if len(names) > CONFUSION_CLASSES:
        lines.append(f"  confusion (all): {len(names)} classes, in --json")
        return [*lines, ""]
    column = max(8, *(len(name) + 2 for name in names))
    lines.append("  confusion (all): rows true, columns predicted")
    lines.append(f"  {'':<{width}}" + "".join(f"{name:>{column}}" for name in names))
    for name, row in zip(names, figures["confusion"], strict=True):
        lines.append(f"  {name:<{width}}" + "".join(f"{n:>{column},}" for n in row))
    return [*lines, ""]


_PER_CLASS = ("precision", "recall", "f1", "support")


def class_notes(report: dict[str, Any]) -> list[str]:
    """What the score figures cover, and the classes an AUC was not computed for."""
    lines = []
    models = report["models"]
    scored_all = any(w.get("all", {}).get("scored_rows") for w in models.values())
    if not scored_all and any(
        figures.get("scored_rows") for w in models.values() for figures in w.values()
    ):  # the metric service's live windows (ops/score_windows.py)
        lines.append(
            "log_loss, brier, roc_auc_ovr (one-vs-rest, macro), ece (15 bins): over the rows "
            "with scores of the count and time windows, exactly"
        )
    if scored_all:
        lines.append(
            "log_loss, brier, roc_auc_ovr (one-vs-rest, macro), ece (15 bins): over the rows "
            "of `all` with scores"
        )
        lines.append(
            f"roc_auc_ovr from histograms of the scores in steps of {1 / AUC_RESOLUTION:g} "
            "(exact for scores of at most 4 decimals)"
        )
    for model, windows in models.items():
        skipped = windows.get("all", {}).get("roc_auc_skipped")
        if skipped:
            lines.append(
                f"{model}: no AUC for {', '.join(map(_name, skipped))} (no true row of it, "
                "or nothing else)"
            )
        unknown = windows.get("all", {}).get("unknown_class_rows")
        if unknown:
            lines.append(
                f"{model}: {unknown:,} rows of a true label it never predicts nor scores "
                "(unknown class; counted wrong)"
            )
    return lines


def _name(name: str) -> str:
    return name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 1] + "…"
