"""mlmon's alert rules as a Prometheus rule file, for teams that alert through Alertmanager.

Each rule keeps its name, threshold, `for` duration and severity, and reads the metric mlmon
exports for its signal (ops/monitors.py, ops/telemetry.py): a quality window figure
(`mlmon_window_mae{window="last_500"}`), a drift figure per column (`mlmon_drift_psi{column=...}`,
the worst column by model for `any`), a data quality figure per feature
(`mlmon_data_missing_rate{column=...}`, likewise), the change points of the last hour
(`mlmon_change_points_total`, the plot service's), a bucket of quality by event time
(`mlmon_bucket_mae{state="final"}`: the latest final or provisional one only, so
`provisional_80` holds while the latest provisional bucket has 80 % of its labels, where
mlmon's own rules read the latest one that has), or one of the metric service's own figures.
A signal with no Prometheus metric raises ConfigError naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

import yaml

from mlmon.errors import ConfigError
from mlmon.monitoring.alert_rules import DATA_QUALITY_SIGNALS, DRIFT_SIGNALS, SCORE_SIGNALS, Rule
from mlmon.monitoring.quality.bucket_selector import (
    BUCKET_SIGNALS,
    is_bucket_selector,
    parse_selector,
)

GROUP = "mlmon"
# Quality figures exported per model and window as `mlmon_window_<name>`.
_WINDOW_FIGURES = (
    "mae", "rmse", "r2", "bias", "accuracy", "precision", "recall", "f1", *SCORE_SIGNALS,
)  # fmt: skip
_QUANTILES = {"abs_error_p50": "0.5", "abs_error_p90": "0.9", "abs_error_p99": "0.99"}
# Per model and column: drift as `mlmon_drift_<name>`, data quality as `mlmon_data_<name>`.
_COLUMN_METRICS = {
    **{name: f"mlmon_drift_{name}" for name in DRIFT_SIGNALS},
    **{name: f"mlmon_data_{name}" for name in DATA_QUALITY_SIGNALS},
}
# The span change_points counts over in Prometheus (mlmon's own notifications use
# MLMON_CHANGE_ALERT_HOLD, one hour by default).
CHANGE_RANGE = "1h"
# The metric service's gauges and counters (its `service=""` signals), by how they export.
_SERVICE_GAUGES = ("label_coverage", "pending_y_true", "pending_y_pred")
_SERVICE_COUNTERS = (
    "joined",
    "dead_lettered",
    "duplicates",
    "orphans",
    "orphaned_predictions",
    "held_to_store",
)


def rule_expression(rule: Rule) -> tuple[str, bool]:
    """The PromQL condition of a rule, and whether its series are per model."""
    selector = rule.selector
    if rule.signal in BUCKET_SIGNALS and is_bucket_selector(selector):
        return _compare(_bucket_metric(rule), rule), True
    if rule.signal in _WINDOW_FIGURES or rule.signal == "count" or rule.signal in _QUANTILES:
        if selector is None:
            _fail(rule, f"{rule.signal} needs a window, e.g. {rule.signal}[last_500]")
        name = "records" if rule.signal == "count" else rule.signal
        if rule.signal in _QUANTILES:
            metric = (
                f'mlmon_window_abs_error_quantile{{window="{selector}",'
                f'quantile="{_QUANTILES[rule.signal]}"}}'
            )
        else:
            metric = f'mlmon_window_{name}{{window="{selector}"}}'
        return _compare(metric, rule), True
    if rule.signal in _COLUMN_METRICS:
        if selector is None:
            _fail(rule, f"{rule.signal} needs a column or `any`, e.g. {rule.signal}[any]")
        name = _COLUMN_METRICS[rule.signal]
        if selector == "any":
            worst = "min" if rule.signal.endswith("pvalue") else "max"  # as column_signals picks
            metric = f"{worst} by (model) ({name})"
        else:
            metric = f'{name}{{column="{selector}"}}'
        return _compare(metric, rule), True
    if rule.signal == "change_points" and selector is not None:
        detector = "" if selector == "any" else f'{{detector="{selector}"}}'
        metric = f"sum by (model) (increase(mlmon_change_points_total{detector}[{CHANGE_RANGE}]))"
        return _compare(metric, rule), True
    if rule.signal == "drifted_columns" and selector is None:
        return _compare("sum by (model) (mlmon_drift_detected)", rule), True
    if rule.signal == "schema_changes" and selector is None:
        return _compare("mlmon_data_schema_changes", rule), True
    if selector is None and rule.signal in _SERVICE_GAUGES:
        return _compare(f'mlmon_{rule.signal}{{service="metric"}}', rule), False
    if selector is None and rule.signal in _SERVICE_COUNTERS:
        return _compare(f'mlmon_{rule.signal}_total{{service="metric"}}', rule), False
    known = [
        *(f"{s}[WINDOW]" for s in (*_WINDOW_FIGURES, "count", *_QUANTILES)),
        *(f"{s}[COLUMN|any]" for s in _COLUMN_METRICS),
        "drifted_columns",
        "schema_changes",
        "change_points[DETECTOR|any]",
        *(f"{s}[final|provisional|provisional_PERCENT]" for s in BUCKET_SIGNALS),
        *_SERVICE_GAUGES,
        *_SERVICE_COUNTERS,
    ]
    _fail(
        rule,
        f"signal {rule.signal}{f'[{selector}]' if selector else ''} has no Prometheus metric; "
        f"rules for Prometheus can use {', '.join(known)} (mlmon's own notifications still "
        "take every signal)",
    )


def _bucket_metric(rule: Rule) -> str:
    """The plot service's gauge of the bucket a selector names; a completeness threshold
    keeps only the models whose provisional bucket has reached it."""
    try:
        selector = parse_selector(str(rule.selector))
    except ValueError as error:
        _fail(rule, str(error))
    if selector.width is not None:
        _fail(
            rule,
            "Prometheus holds only the latest final and provisional bucket at their own width "
            f"(mlmon_bucket_*{{state=...}}): use {rule.signal}[{selector.state}], or keep the "
            "width in mlmon's own rules",
        )
    metric = f'mlmon_bucket_{rule.signal}{{state="{selector.state}"}}'
    if selector.completeness is None:
        return metric
    share = f'mlmon_bucket_completeness{{state="{selector.state}"}}'
    return f"({metric} and on (model) {share} >= {selector.completeness!r})"


def prometheus_rules(rules: Sequence[Rule], dashboard_url: str | None = None) -> str:
    """A Prometheus rule file (YAML) with one alerting rule per mlmon rule."""
    if not rules:
        msg = "no alert rules to write: pass --alerts or set MLMON_ALERTS"
        raise ConfigError(msg)
    body = yaml.safe_dump(
        {"groups": [{"name": GROUP, "rules": [_alerting_rule(r, dashboard_url) for r in rules]}]},
        sort_keys=False,
        width=1000,
    )
    header = [
        "# Prometheus alerting rules written by `mlmon alerts rules` from mlmon's rules:",
        *(f"#   {rule}" for rule in rules),
        "# Check with `promtool check rules FILE`; write it again after changing MLMON_ALERTS.",
    ]
    return "\n".join(header) + "\n" + body


def _alerting_rule(rule: Rule, dashboard_url: str | None) -> dict[str, Any]:
    expression, per_model = rule_expression(rule)
    selector = f"[{rule.selector}]" if rule.selector else ""
    wait = f" for {rule.for_seconds:g}s" if rule.for_seconds else ""
    where = " on model {{ $labels.model }}" if per_model else ""
    annotations = {
        "summary": f"{rule.name} firing{where}",
        "description": (
            f'{rule.signal}{selector} is {{{{ $value | printf "%.4g" }}}} '
            f"(alert when {rule.op} {rule.threshold:g}{wait})"
        ),
    }
    if dashboard_url:
        annotations["dashboard"] = dashboard_url
    out: dict[str, Any] = {"alert": rule.name, "expr": expression}
    if rule.for_seconds:
        out["for"] = _duration(rule.for_seconds)
    out["labels"] = {"severity": rule.severity, "source": "mlmon"}
    out["annotations"] = annotations
    return out


def _compare(metric: str, rule: Rule) -> str:
    return f"{metric} {rule.op} {rule.threshold!r}"


def _duration(seconds: float) -> str:
    """A Prometheus duration: whole seconds, or milliseconds when the rule needs them."""
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def _fail(rule: Rule, why: str) -> NoReturn:
    msg = f"alert rule {str(rule)!r}: {why}"
    raise ConfigError(msg)
