"""Alert rules: parsing, `for` durations, firing once, resolving, per-model series."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mlmon.errors import ConfigError
from mlmon.monitoring.alert_rules import (
    DRIFT_SIGNALS,
    MODEL_SIGNALS,
    QUALITY_SIGNALS,
    SCORE_SIGNALS,
    SERVICE_SIGNALS,
    AlertEngine,
    Rule,
    check_rules,
    data_quality_signals,
    drift_signals,
    parse_rules,
)
from mlmon.monitoring.quality.bucket_selector import BUCKET_SIGNALS
from mlmon.monitoring.quality.figures import classification_figures, regression_figures


def test_rules_parse_with_selectors_and_durations() -> None:
    """The rule language: name, signal, optional selector, operator, threshold, duration."""
    rules = parse_rules(
        "high-mae: mae[last_500] > 60 for 30s; cov: label_coverage < 0.9 for 2m\n"
        "drift: psi[any] >= 0.2"
    )
    assert rules[0] == Rule("high-mae", "mae", "last_500", ">", 60.0, 30.0)
    assert rules[1] == Rule("cov", "label_coverage", None, "<", 0.9, 120.0)
    assert rules[2] == Rule("drift", "psi", "any", ">=", 0.2, 0.0)
    assert str(rules[0]) == "high-mae: mae[last_500] > 60 for 30s"


@pytest.mark.parametrize(
    "text", ["mae > 3", "x: mae >> 3", "x: mae > lots", "a: r2[all] < 1; a: r2[all] < 2"]
)
def test_bad_rules_are_named(text: str) -> None:
    """A malformed or repeated rule is a ConfigError quoting it."""
    with pytest.raises(ConfigError, match="alert rule"):
        parse_rules(text)


def test_fires_after_the_duration_once_then_resolves() -> None:
    """Pending until the condition has held `for` seconds; one firing; one resolved."""
    engine = AlertEngine(parse_rules("high: mae[all] > 10 for 30s"))
    high, low = {"m": {"mae[all]": 12.0}}, {"m": {"mae[all]": 8.0}}
    assert engine.evaluate(high, now=0) == []
    assert engine.evaluate(high, now=29) == []
    (fired,) = engine.evaluate(high, now=30)
    assert (fired.state, fired.series, fired.value) == ("firing", "m", 12.0)
    assert engine.evaluate(high, now=31) == []
    assert engine.firing() == {("high", "m"): 12.0}
    (resolved,) = engine.evaluate(low, now=40)
    assert resolved.state == "resolved"
    assert engine.firing() == {}


def test_a_dip_restarts_the_clock() -> None:
    """The condition must hold continuously for the whole duration."""
    engine = AlertEngine(parse_rules("high: mae[all] > 10 for 30s"))
    engine.evaluate({"m": {"mae[all]": 12.0}}, now=0)
    engine.evaluate({"m": {"mae[all]": 9.0}}, now=20)
    assert engine.evaluate({"m": {"mae[all]": 12.0}}, now=40) == []
    assert len(engine.evaluate({"m": {"mae[all]": 12.0}}, now=70)) == 1


def test_each_model_is_its_own_series() -> None:
    """One rule fires for the bad model only."""
    engine = AlertEngine(parse_rules("high: mae[all] > 10"))
    changes = engine.evaluate({"good": {"mae[all]": 5.0}, "bad": {"mae[all]": 50.0}}, now=0)
    assert [(c.series, c.state) for c in changes] == [("bad", "firing")]


def test_drift_signals_pick_the_worst_column() -> None:
    """psi[any] is the largest PSI and ks_pvalue[any] the smallest p-value."""
    flat = drift_signals(
        {
            "a": {"psi": 0.1, "ks_pvalue": 0.5},
            "b": {"psi": 0.4, "ks_pvalue": 0.001},
            "c": {"psi": None},
        }
    )
    assert flat["psi[any]"] == 0.4
    assert flat["ks_pvalue[any]"] == 0.001
    assert flat["psi[a]"] == 0.1
    assert "psi[c]" not in flat


def test_data_quality_rules_read_rates_per_feature() -> None:
    """`missing_rate[island] > 0.2` fires on the data quality's figures; `[any]` is the worst
    feature; a rate of a column it does not apply to (None) is no signal."""
    flat = data_quality_signals(
        {
            "island": {"kind": "categorical", "missing_rate": 0.25, "out_of_range_rate": None},
            "bmi": {"kind": "numeric", "missing_rate": 0.0, "out_of_range_rate": 0.1},
        }
    )
    assert flat == {
        "missing_rate[island]": 0.25,
        "missing_rate[bmi]": 0.0,
        "missing_rate[any]": 0.25,
        "out_of_range_rate[bmi]": 0.1,
        "out_of_range_rate[any]": 0.1,
    }
    engine = AlertEngine(
        parse_rules("gaps: missing_rate[island] > 0.2; schema: schema_changes > 0")
    )
    fired = engine.evaluate({"m": {**flat, "schema_changes": 1.0}}, 0.0)
    assert sorted(t.rule.name for t in fired) == ["gaps", "schema"]
    with pytest.raises(ConfigError, match="missing_rate needs a column or `any`"):
        parse_rules("gaps: missing_rate > 0.2")


WINDOWS = ("last_500", "last_60s", "all")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("typo: maee[last_500] > 3", "unknown signal 'maee'"),
        ("sel: label_coverage[all] < 0.9", "label_coverage takes no [selector]"),
        ("bare-typo: label_coverag < 0.9", "unknown signal 'label_coverag'"),
        ("bare: mae > 60", "mae needs a window"),
        ("col: psi > 0.2", "psi needs a column or `any`"),
    ],
)
def test_a_rule_that_could_never_fire_is_refused(text: str, problem: str) -> None:
    """A misspelt signal, or a selector where none belongs (or none where one does), once
    passed and never fired."""
    with pytest.raises(ConfigError, match=re.escape(problem)):
        parse_rules(text)


def test_every_signal_a_window_gives_is_accepted() -> None:
    """Each quality figure with a window, each drift figure with a column, service figures bare."""
    rules = [f"q{i}: {name}[last_500] > 1" for i, name in enumerate(QUALITY_SIGNALS)]
    rules += [f"d{i}: {name}[bmi] > 1" for i, name in enumerate(DRIFT_SIGNALS)]
    rules += ["s: label_coverage < 0.9", "t: dead_lettered > 0"]
    assert len(parse_rules("; ".join(rules))) == len(rules)
    assert {"mae", "abs_error_p99", "accuracy", "f1"} <= set(QUALITY_SIGNALS)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("typo: maee[last_500] > 3", "unknown signal 'maee'"),
        ("window: mae[last_5oo] > 3", "window 'last_5oo' is not tracked"),
        ("bare: mae > 60", "mae needs a window"),
        ("col: psi > 0.2", "psi needs a column or `any`"),
        ("sel: label_coverage[all] < 0.9", "label_coverage takes no [selector]"),
        ("width: mae[final_7m] > 60", "bucket width 7m does not fit the buckets kept"),
        ("share: mae[final_80] > 60", "only provisional takes a completeness"),
        ("figure: r2[final] > 0.5", "buckets by event time give mae, rmse"),
        ("bare-rows: rows < 10", "rows needs a bucket"),
        ("ll-all: log_loss[all] > 0.8", "log_loss is live over the count and time windows"),
        ("bare-ll: log_loss > 0.8", "log_loss needs a window"),
    ],
)
def test_rules_that_could_never_fire_are_refused(text: str, problem: str) -> None:
    """An unknown signal or a selector the signal cannot have is named, with the known ones."""
    with pytest.raises(ConfigError) as caught:
        check_rules(parse_rules(text), WINDOWS)
    message = str(caught.value)
    assert text.split(":")[0] in message
    assert problem in message
    assert "Known signals" in message
    for known in ("mae", "psi", "label_coverage", "pending_y_pred", "last_500"):
        assert known in message


def test_every_known_rule_passes() -> None:
    """Each listed signal, with the selector it takes, is accepted."""
    windowed = [(s, "last_60s" if s in SCORE_SIGNALS else "all") for s in QUALITY_SIGNALS]
    rules = [f"q{i}: {s}[{w}] > 1" for i, (s, w) in enumerate(windowed)]
    rules += [f"d{i}: {s}[any] > 1" for i, s in enumerate(DRIFT_SIGNALS)]
    rules += [f"s{i}: {s} > 1" for i, s in enumerate(MODEL_SIGNALS + SERVICE_SIGNALS)]
    selectors = ("final", "final_1h", "final_15m", "provisional", "provisional_80")
    rules += [f"b-{s}-{b}: {s}[{b}] > 1" for s in BUCKET_SIGNALS for b in selectors]
    check_rules(parse_rules(";".join(rules)), WINDOWS)


def test_a_bucket_rule_reads_its_selectors_signal() -> None:
    """`mae[final_1h]` fires on the value of that key, per model, like any other."""
    engine = AlertEngine(parse_rules("late: mae[final_1h] > 60"))
    fired = engine.evaluate({"m": {"mae[final_1h]": 61.0, "mae[final]": 10.0}}, now=0.0)
    assert [(t.series, t.state, t.value) for t in fired] == [("m", "firing", 61.0)]


def test_quality_signals_are_the_figures_windows_produce() -> None:
    """The list of quality signals is every number a window's figures hold, no more."""
    regression = regression_figures(np.array([1.0, 2.0, 4.0]), np.array([1.5, 2.0, 3.0]))
    classification = classification_figures(np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    produced = {
        name
        for figures in (regression, classification)
        for name, value in figures.to_dict().items()
        if isinstance(value, int | float)
    }
    # and a classifier's score figures (ops/score_windows.py), over its count and time windows
    assert produced | set(SCORE_SIGNALS) == set(QUALITY_SIGNALS)


def test_a_log_loss_rule_parses_and_fires() -> None:
    """A classifier's live score figures are window figures: `log_loss[last_500] > 0.8` fires
    on the status's `log_loss[last_500]`, per model; roc_auc, brier and ece likewise."""
    rules = parse_rules(
        "ll: log_loss[last_500] > 0.8 for 10s; auc: roc_auc[last_60s] < 0.7; "
        "b: brier[last_500] > 0.5; e: ece[last_60s] > 0.1"
    )
    check_rules(rules, WINDOWS)
    assert rules[0] == Rule("ll", "log_loss", "last_500", ">", 0.8, 10.0)
    engine = AlertEngine(rules[:1])
    signals = {"m": {"log_loss[last_500]": 0.9}, "ok": {"log_loss[last_500]": 0.2}}
    assert engine.evaluate(signals, now=0.0) == []
    (fired,) = engine.evaluate(signals, now=10.0)
    assert (fired.series, fired.state, fired.value) == ("m", "firing", 0.9)
    (resolved,) = engine.evaluate({"m": {"log_loss[last_500]": 0.5}}, now=11.0)
    assert resolved.state == "resolved"
