"""`mlmon alerts rules`: mlmon's alert rules as a Prometheus rule file that promtool accepts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mlmon.app.cli import app
from mlmon.errors import ConfigError
from mlmon.monitoring.alert_rules import parse_rules
from mlmon.ops.prometheus_rules import prometheus_rules, rule_expression
from tests.conftest import _in_ci

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "deploy" / "prometheus" / "rules" / "mlmon.yml"
EVERY_KIND = (
    "high-mae: mae[last_500] > 60 for 30s severity=critical; "
    "drift: psi[any] > 0.2 for 1m; "
    "bmi: psi[bmi] > 0.3; "
    "pvalue: ks_pvalue[any] < 0.01 for 1.5s severity=info; "
    "p99: abs_error_p99[last_60s] >= 100; "
    "few: count[all] < 10; "
    "columns: drifted_columns > 2; "
    "coverage: label_coverage < 0.9 for 5m; "
    "orphans: orphans > 10; "
    "gaps: missing_rate[island] > 0.2; "
    "wrong: type_mismatch_rate[any] > 0; "
    "categories: chi2_pvalue[any] < 0.01; "
    "schema: schema_changes > 0; "
    "late: mae[final] > 60; "
    "early: accuracy[provisional_80] < 0.9"
)


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool is not installed (Debian package `prometheus` ships it)"
        if _in_ci():
            pytest.fail(f"{reason}; under CI=true this check fails instead of skipping")
        pytest.skip(reason)
    return found


def expressions(text: str) -> dict[str, str]:
    return {rule.name: rule_expression(rule)[0] for rule in parse_rules(text)}


def test_each_signal_reads_the_metric_mlmon_exports() -> None:
    assert expressions(EVERY_KIND) == {
        "high-mae": 'mlmon_window_mae{window="last_500"} > 60.0',
        "drift": "max by (model) (mlmon_drift_psi) > 0.2",
        "bmi": 'mlmon_drift_psi{column="bmi"} > 0.3',
        "pvalue": "min by (model) (mlmon_drift_ks_pvalue) < 0.01",
        "p99": 'mlmon_window_abs_error_quantile{window="last_60s",quantile="0.99"} >= 100.0',
        "few": 'mlmon_window_records{window="all"} < 10.0',
        "columns": "sum by (model) (mlmon_drift_detected) > 2.0",
        "coverage": 'mlmon_label_coverage{service="metric"} < 0.9',
        "orphans": 'mlmon_orphans_total{service="metric"} > 10.0',
        "gaps": 'mlmon_data_missing_rate{column="island"} > 0.2',
        "wrong": "max by (model) (mlmon_data_type_mismatch_rate) > 0.0",
        "categories": "min by (model) (mlmon_drift_chi2_pvalue) < 0.01",
        "schema": "mlmon_data_schema_changes > 0.0",
        "late": 'mlmon_bucket_mae{state="final"} > 60.0',
        "early": '(mlmon_bucket_accuracy{state="provisional"} and on (model) '
        'mlmon_bucket_completeness{state="provisional"} >= 0.8) < 0.9',
    }


def test_score_rules_read_the_score_gauges() -> None:
    """A classifier's live score figures read the mlmon_window_* gauges LiveQuality exports."""
    assert expressions("ll: log_loss[last_500] > 0.8; auc: roc_auc[last_60s] < 0.7") == {
        "ll": 'mlmon_window_log_loss{window="last_500"} > 0.8',
        "auc": 'mlmon_window_roc_auc{window="last_60s"} < 0.7',
    }


def test_names_durations_severities_and_annotations_carry_over() -> None:
    text = prometheus_rules(parse_rules(EVERY_KIND), dashboard_url="http://dash.example/")
    rules = {rule["alert"]: rule for rule in yaml.safe_load(text)["groups"][0]["rules"]}
    assert list(rules) == [rule.name for rule in parse_rules(EVERY_KIND)]
    assert rules["high-mae"]["for"] == "30s"
    assert rules["drift"]["for"] == "60s"
    assert rules["pvalue"]["for"] == "1500ms"
    assert "for" not in rules["bmi"]
    assert rules["high-mae"]["labels"]["severity"] == "critical"
    assert rules["drift"]["labels"]["severity"] == "warning"
    annotations = rules["high-mae"]["annotations"]
    assert "{{ $value" in annotations["description"]
    assert "> 60 for 30s" in annotations["description"]
    assert "{{ $labels.model }}" in annotations["summary"]
    assert "$labels.model" not in rules["coverage"]["annotations"]["summary"]  # service-wide
    assert annotations["dashboard"] == "http://dash.example/"


def test_promtool_accepts_the_rule_file(tmp_path: Path) -> None:
    path = tmp_path / "mlmon.yml"
    path.write_text(prometheus_rules(parse_rules(EVERY_KIND), "http://dash.example/"))
    checked = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(parse_rules(EVERY_KIND))} rules found" in checked.stdout


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ("x: max_abs_error[all] > 3", "signal max_abs_error[all] has no Prometheus metric"),
        ("x: mape[all] > 0.1", "signal mape[all] has no Prometheus metric"),
        ("x: mae > 3", "mae needs a window"),
        ("x: psi > 3", "psi needs a column or `any`"),
        ("x: mae[final_1h] > 3", "Prometheus holds only the latest final and provisional"),
    ],
)
def test_a_signal_without_a_metric_is_a_clear_error(rule: str, why: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(why)):
        prometheus_rules(parse_rules(rule))


def test_the_shipped_rule_file_is_what_the_command_writes() -> None:
    """deploy/prometheus/rules/mlmon.yml: regenerated from the rules its header lists."""
    text = SHIPPED.read_text()
    listed = [line[4:] for line in text.splitlines() if line.startswith("#   ")]
    assert prometheus_rules(parse_rules(";".join(listed))) == text


runner = CliRunner()


def test_cli_writes_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLMON_DASHBOARD_URL", "http://dash.example/")
    out = tmp_path / "rules.yml"
    result = runner.invoke(app, ["alerts", "rules", "--alerts", EVERY_KIND, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == prometheus_rules(parse_rules(EVERY_KIND), "http://dash.example/")


def test_cli_reads_mlmon_alerts_and_prints_to_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLMON_ALERTS", "drift: psi[any] > 0.2")
    result = runner.invoke(app, ["alerts", "rules"])
    assert result.exit_code == 0, result.output
    assert "max by (model) (mlmon_drift_psi) > 0.2" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--alerts", "x: max_abs_error[all] > 3"], "has no Prometheus metric"),
        ([], "no alert rules to write: pass --alerts or set MLMON_ALERTS"),
        (["--alerts", "x: mae[last_500] >"], "is not `NAME: SIGNAL[SELECTOR] OP THRESHOLD"),
    ],
)
def test_cli_mistakes_exit_2_without_a_traceback(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLMON_ALERTS", raising=False)
    result = runner.invoke(app, ["alerts", "rules", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
