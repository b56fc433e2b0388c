"""Settings: environment variables, flags over them, fail-fast errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlmon.errors import ConfigError
from mlmon.settings import explain, load_settings, redact_url


def test_defaults_are_the_embedded_demo() -> None:
    """With nothing set, there is no broker and the seeds' queue names are used."""
    settings = load_settings()
    assert settings.embedded
    assert (settings.queue_features, settings.queue_y_true, settings.queue_y_pred) == (
        "features",
        "y_true",
        "y_pred",
    )
    assert settings.logs_dir == Path("logs")


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLMON_* variables are read; a flag given overrides its variable."""
    monkeypatch.setenv("MLMON_RATE", "12.5")
    monkeypatch.setenv("MLMON_QUEUE_FEATURES", "f2")
    assert load_settings().rate == 12.5
    settings = load_settings(rate=3.0, count=None)
    assert settings.rate == 3.0
    assert settings.queue_features == "f2"


def test_a_wrong_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad environment value fails at start-up naming the variable and the value."""
    monkeypatch.setenv("MLMON_RATE", "fast")
    with pytest.raises(ConfigError, match=r"MLMON_RATE='fast'"):
        load_settings()


def test_a_wrong_flag_is_named() -> None:
    """A bad flag value fails naming the flag."""
    with pytest.raises(ConfigError, match=r"--count=0"):
        load_settings(count=0)
    with pytest.raises(ConfigError, match=r"--broker='http://x'.*amqp://"):
        load_settings(broker_url="http://x")


def test_explain_names_sources_and_hides_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """`mlmon config` rows say default/environment/flag and never print a password."""
    monkeypatch.setenv("MLMON_BROKER_URL", "amqp://user:secret@host:5672/")
    flags = {"rate": 2.0}
    rows = {row[0]: row for row in explain(load_settings(**flags), flags)}
    assert rows["MLMON_BROKER_URL"][2] == "environment"
    assert "secret" not in rows["MLMON_BROKER_URL"][1]
    assert rows["MLMON_RATE"][2] == "flag --rate"
    assert rows["MLMON_QUEUE_Y_PRED"][2] == "default"
    assert redact_url("amqp://guest:guest@h/") == "amqp://guest:***@h/"


def test_an_alert_over_an_untracked_window_is_refused_naming_the_windows() -> None:
    with pytest.raises(ConfigError, match=r"window 'last_300' is not tracked.*last_500"):
        load_settings(alerts="x: mae[last_300] > 5")
    assert load_settings(alerts="x: mae[last_300] > 5", quality_window=300).alerts
    assert load_settings(alerts="d: psi[bmi] > 0.2").alerts  # drift selectors are columns


def test_a_cluster_is_a_comma_separated_list_of_broker_urls() -> None:
    settings = load_settings(broker_url=" amqp://u:secret@a:5672/ , amqp://u:secret@b:5673/")
    assert settings.broker_urls == ("amqp://u:secret@a:5672/", "amqp://u:secret@b:5673/")
    assert "secret" not in redact_url(settings.broker_url)
    with pytest.raises(ConfigError, match=r"--broker=.*amqp://.*http://b"):
        load_settings(broker_url="amqp://a/,http://b/")


def test_metric_workers_need_a_broker_and_a_shard_within_them() -> None:
    with pytest.raises(ConfigError, match=r"MLMON_METRIC_WORKERS > 1 needs a broker"):
        load_settings(metric_workers=2)
    with pytest.raises(ConfigError, match=r"MLMON_METRIC_SHARD=4 is past MLMON_METRIC_WORKERS=3"):
        load_settings(broker_url="amqp://a/", metric_workers=3, metric_shard=4)
    with pytest.raises(ConfigError, match=r"--metric-workers=0"):
        load_settings(broker_url="amqp://a/", metric_workers=0)
