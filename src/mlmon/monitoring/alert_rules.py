"""Alert rules over live signals: parse, evaluate, fire and resolve (pure; no I/O, no clock).

A rule reads `NAME: SIGNAL[SELECTOR] OP THRESHOLD [for DURATION] [severity=LEVEL]`, for example

    high-mae: mae[last_500] > 60 for 30s severity=critical
    drift: psi[any] > 0.2
    late-mae: mae[final_1h] > 60
    gaps: missing_rate[island] > 0.2 for 1m
    coverage: label_coverage < 0.9 for 1m

SIGNAL is a quality figure (mae, rmse, r2, bias, max_abs_error, abs_error_p50/p90/p99, count;
a classifier's accuracy, precision, recall, f1, and over its rows with scores log_loss, brier,
roc_auc and ece, in its count and time windows only;
SELECTOR = a window such as last_500, last_60s or all; evaluated per model), a drift figure
(psi, ks_statistic, ks_pvalue, js_distance, chi2_pvalue; SELECTOR = a column name, or `any`
for the worst column), a data quality figure (missing_rate, out_of_range_rate, unseen_rate,
type_mismatch_rate, absent_rate; SELECTOR = a feature or `any`), a plain service figure
(label_coverage, pending_y_pred, ...; no selector), or `change_points` (per model and per
segment `model key=value`; SELECTOR = a detector, adwin, page_hinkley or ddm, or `any`: the
change points found in the last MLMON_CHANGE_ALERT_HOLD seconds), or a figure of a bucket of
quality by event time (mae, rmse, bias, accuracy, f1, log_loss, rows, completeness; SELECTOR =
final, final_1h, provisional_80, ...: see quality/bucket_selector.py). An alert fires when its
condition has held for DURATION, and resolves when it no longer holds. LEVEL (critical,
warning or info; warning when left out) travels with its notifications.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from mlmon.errors import ConfigError
from mlmon.monitoring.detectors import DETECTORS
from mlmon.monitoring.quality.bucket_selector import (
    BUCKET_SIGNALS,
    is_bucket_selector,
    parse_selector,
)
from mlmon.monitoring.quality.figures import ClassificationFigures, RegressionFigures

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_RULE = re.compile(
    r"^\s*(?P<name>[\w.-]+)\s*:\s*(?P<signal>[a-z_0-9]+)(?:\[(?P<selector>[\w.-]+)\])?\s*"
    r"(?P<op>>=|<=|>|<)\s*(?P<threshold>[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)"
    r"(?:\s+for\s+(?P<duration>\d+(\.\d+)?)(?P<unit>ms|s|m|h)?)?"
    r"(?:\s+severity=(?P<severity>\w+))?\s*$"
)
# Alertmanager's usual levels; a rule without `severity=` is a warning.
SEVERITIES = ("critical", "warning", "info")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

# Every signal a rule can name, in one place: quality figures per model and window (the
# metric service, from quality/figures.py), drift figures per model and column (the model
# service), and plain figures without a selector. tests/e2e/test_first_hour.py holds the plain
# ones to what the metric service offers the rules.
DRIFT_SIGNALS = ("psi", "ks_statistic", "ks_pvalue", "js_distance", "chi2_pvalue")
# Shares of the drift window per feature (monitoring/data_quality.py), same selectors.
DATA_QUALITY_SIGNALS = (
    "missing_rate", "out_of_range_rate", "unseen_rate", "type_mismatch_rate", "absent_rate",
)  # fmt: skip
_PVALUES = ("ks_pvalue", "chi2_pvalue")  # the worst column is the lowest
CHANGE_SIGNALS = ("change_points",)  # per model and segment, from the plot service's detectors
# The numbers a quality window gives: the SIGNALs a `[window]` selector can follow.
# A classifier's score figures over its rows with scores (ops/score_windows.py) follow them.
SCORE_SIGNALS = ("log_loss", "brier", "roc_auc", "ece")
QUALITY_SIGNALS = tuple(
    dict.fromkeys(
        [
            *(
                name
                for figures in (RegressionFigures, ClassificationFigures)
                for name, kind in figures.__annotations__.items()
                if kind in ("int", "float | None")
            ),
            *SCORE_SIGNALS,
        ]
    )
)
# Per model, from the drift report and the data quality (features appeared or went missing).
MODEL_SIGNALS = ("drifted_columns", "schema_changes")
SERVICE_SIGNALS = (  # the metric service's gauges and counters
    "label_coverage", "pending_y_true", "pending_y_pred", "joined", "duplicates", "orphans",
    "orphaned_predictions", "held_to_store", "batches_joined_by_record",
    "named_batches_joined_by_record", "dead_lettered",
    "alerts_firing", "alerts_resolved", "alert_notifications_sent", "alert_notification_retries",
    "alert_notifications_failed", "alert_notifications_dropped", "alert_notifications_suppressed",
)  # fmt: skip


@dataclass(frozen=True)
class Rule:
    name: str
    signal: str
    selector: str | None
    op: str
    threshold: float
    for_seconds: float = 0.0
    severity: str = "warning"

    def __str__(self) -> str:
        selector = f"[{self.selector}]" if self.selector else ""
        wait = f" for {self.for_seconds:g}s" if self.for_seconds else ""
        level = f" severity={self.severity}" if self.severity != "warning" else ""
        return f"{self.name}: {self.signal}{selector} {self.op} {self.threshold:g}{wait}{level}"

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.threshold)


def parse_rules(text: str) -> tuple[Rule, ...]:
    """Rules separated by `;` or new lines; a malformed one raises ConfigError naming it."""
    rules = []
    for part in re.split(r"[;\n]", text):
        if not part.strip():
            continue
        match = _RULE.match(part)
        if match is None:
            msg = (
                f"alert rule {part.strip()!r} is not `NAME: SIGNAL[SELECTOR] OP THRESHOLD "
                "[for DURATION] [severity=LEVEL]`, e.g. `high-mae: mae[last_500] > 60 for 30s`"
            )
            raise ConfigError(msg)
        severity = match["severity"] or "warning"
        if severity not in SEVERITIES:
            msg = f"alert rule {part.strip()!r}: severity must be one of {', '.join(SEVERITIES)}"
            raise ConfigError(msg)
        duration = float(match["duration"] or 0) * _UNITS[match["unit"]]
        rules.append(
            Rule(
                match["name"],
                match["signal"],
                match["selector"],
                match["op"],
                float(match["threshold"]),
                duration,
                severity,
            )
        )
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        msg = f"alert rule names must be unique: {', '.join(names)}"
        raise ConfigError(msg)
    for rule in rules:
        _check_signal(rule)
    return tuple(rules)


def _check_signal(rule: Rule) -> None:
    """A rule whose signal nothing gives, or with a selector its signal cannot have, would
    never fire: say so now, listing the signals there are. (Windows are checked against the
    settings by `check_rules`.)"""
    problem = _problem(rule, None)
    if problem is not None:
        msg = f"alert rule {str(rule)!r}: {problem}. Known signals: {known_signals(None)}"
        raise ConfigError(msg)


def known_signals(windows: Iterable[str] | None) -> str:
    """The signals a rule may name, as an error message lists them."""
    shown = ", ".join(windows or ("last_500", "last_60s", "all"))
    return (
        f"quality per model, SIGNAL[WINDOW] with WINDOW one of {shown}: "
        f"{', '.join(QUALITY_SIGNALS)}; drift per model, SIGNAL[COLUMN] or SIGNAL[any]: "
        f"{', '.join(DRIFT_SIGNALS)}; data quality per model, SIGNAL[FEATURE] or SIGNAL[any]: "
        f"{', '.join(DATA_QUALITY_SIGNALS)}; change points per model, change_points[DETECTOR] "
        f"with DETECTOR one of {', '.join(DETECTORS)} or any; per model and bucket of event "
        f"time, SIGNAL[final], SIGNAL[final_1h], SIGNAL[provisional_80]: "
        f"{', '.join(BUCKET_SIGNALS)}; without a selector: "
        f"{', '.join(MODEL_SIGNALS + SERVICE_SIGNALS)}"
    )


def check_rules(rules: Iterable[Rule], windows: Iterable[str]) -> None:
    """Also refuse a quality figure over a window nobody tracks (the settings know which)."""
    windows = tuple(windows)
    for rule in rules:
        problem = _problem(rule, windows)
        if problem is not None:
            msg = f"alert rule {str(rule)!r}: {problem}. Known signals: {known_signals(windows)}"
            raise ConfigError(msg)


def _problem(rule: Rule, windows: tuple[str, ...] | None) -> str | None:
    if is_bucket_selector(rule.selector) and rule.signal in BUCKET_SIGNALS:
        try:
            parse_selector(str(rule.selector))
        except ValueError as error:
            return str(error)
        return None
    if rule.signal in ("rows", "completeness"):
        return f"{rule.signal} needs a bucket ([final], [final_1h], [provisional_80])"
    if rule.signal in QUALITY_SIGNALS:
        if rule.selector is None:
            return f"{rule.signal} needs a window ([last_500], [last_60s], [all])"
        if is_bucket_selector(rule.selector):
            return f"buckets by event time give {', '.join(BUCKET_SIGNALS)}, not {rule.signal}"
        if rule.signal in SCORE_SIGNALS and rule.selector == "all":
            return f"{rule.signal} is live over the count and time windows only, not [all]"
        if windows is not None and rule.selector not in windows:
            return (
                f"window {rule.selector!r} is not tracked (MLMON_QUALITY_WINDOW and "
                "MLMON_QUALITY_SECONDS set them)"
            )
        return None
    if rule.signal in DRIFT_SIGNALS + DATA_QUALITY_SIGNALS:
        if rule.selector is None:
            return f"{rule.signal} needs a column or `any` ([bmi], [any])"
        return None
    if rule.signal in CHANGE_SIGNALS:
        if rule.selector not in (*DETECTORS, "any"):
            return f"{rule.signal} needs a detector or `any` ([adwin], [any])"
        return None
    if rule.signal in MODEL_SIGNALS + SERVICE_SIGNALS:
        if rule.selector is not None:
            return f"{rule.signal} takes no [selector]"
        return None
    return f"unknown signal {rule.signal!r}"


@dataclass(frozen=True)
class Transition:
    """An alert that started firing or resolved."""

    rule: Rule
    series: str  # which model (or "" for a service-wide signal)
    state: str  # "firing" or "resolved"
    value: float
    at: float

    def payload(self) -> dict[str, object]:
        return {
            "alert": self.rule.name,
            "rule": str(self.rule),
            "state": self.state,
            "series": self.series,
            "value": self.value,
            "threshold": self.rule.threshold,
            "severity": self.rule.severity,
            "at": self.at,
        }


Signals = Mapping[str, Mapping[str, float]]  # series -> "signal" or "signal[selector]" -> value


def drift_signals(columns: Mapping[str, Mapping[str, object]]) -> dict[str, float]:
    """Flatten a drift report's columns to `psi[bmi]`, ..., and `psi[any]` (the worst)."""
    return column_signals(columns, DRIFT_SIGNALS)


def data_quality_signals(columns: Mapping[str, Mapping[str, object]]) -> dict[str, float]:
    """Flatten the data quality's columns to `missing_rate[island]`, ..., and `[any]`."""
    return column_signals(columns, DATA_QUALITY_SIGNALS)


def column_signals(
    columns: Mapping[str, Mapping[str, object]], signals: Iterable[str]
) -> dict[str, float]:
    flat: dict[str, float] = {}
    for signal in signals:
        values: dict[str, float] = {}
        for name, figures in columns.items():
            value = figures.get(signal)
            if isinstance(value, int | float):
                values[name] = float(value)
                flat[f"{signal}[{name}]"] = float(value)
        if values:
            pick = min if signal in _PVALUES else max  # the worst column
            flat[f"{signal}[any]"] = pick(values.values())
    return flat


class AlertEngine:
    """Tracks each (rule, series): pending while the condition holds, firing after `for`."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        self._since: dict[tuple[str, str], float] = {}
        self._firing: dict[tuple[str, str], float] = {}

    def evaluate(self, signals: Signals, now: float) -> list[Transition]:
        changes = []
        for rule in self.rules:
            key_name = f"{rule.signal}[{rule.selector}]" if rule.selector else rule.signal
            for series, values in signals.items():
                if key_name not in values:
                    continue
                value, key = values[key_name], (rule.name, series)
                if rule.holds(value):
                    since = self._since.setdefault(key, now)
                    if key not in self._firing and now - since >= rule.for_seconds:
                        self._firing[key] = value
                        changes.append(Transition(rule, series, "firing", value, now))
                else:
                    self._since.pop(key, None)
                    if self._firing.pop(key, None) is not None:
                        changes.append(Transition(rule, series, "resolved", value, now))
        return changes

    def firing(self) -> dict[tuple[str, str], float]:
        """(rule name, series) -> the value it fired at, for every alert firing now."""
        return dict(self._firing)
