"""Alert rules: parsing, `for` durations, firing once, resolving, per-model series."""

from __future__ import annotations

import re

import pytest

from mlmon.errors import ConfigError
from mlmon.monitoring.alert_rules import (
    DRIFT_SIGNALS,
    QUALITY_SIGNALS,
    AlertEngine,
    Rule,
    drift_signals,
    parse_rules,
)


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


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("typo: maee[last_500] > 3", "unknown signal 'maee'"),
        ("sel: label_coverage[all] < 0.9", "unknown signal 'label_coverage'"),
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
