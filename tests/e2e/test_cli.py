"""The command line's errors and helpers, as a user meets them."""

from __future__ import annotations

from pathlib import Path

from mlmon.errors import EXIT_BROKER
from tests.conftest import SEED_MODEL
from tests.e2e.cli import mlmon


def test_pickle_without_consent_is_refused_with_the_reason(tmp_path: Path) -> None:
    """`mlmon up --model myfile.pkl` refuses to unpickle and says how to consent."""
    result = mlmon("up", "--model", str(SEED_MODEL), "--logs", str(tmp_path))
    assert result.returncode == 2
    assert "is a pickle" in result.stderr
    assert "--trust-pickle" in result.stderr


def test_seed_pickle_runs_with_consent(tmp_path: Path) -> None:
    """With --trust-pickle the seeds' model drives the embedded pipeline."""
    result = mlmon(
        "up",
        "--model",
        str(SEED_MODEL),
        "--trust-pickle",
        "--count",
        "50",
        "--rate",
        "0",
        "--logs",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "joined 50" in result.stdout


def test_up_streams_the_rows_in_file_order_when_asked(tmp_path: Path) -> None:
    """`up --order sequential` (as `features --order`): diabetes' first targets, in order."""
    import csv

    result = mlmon("up", "--count", "3", "--rate", "0", "--order", "sequential", "--logs",
                   str(tmp_path), "--no-dashboard")  # fmt: skip
    assert result.returncode == 0, result.stderr
    with (tmp_path / "metric_log.csv").open(newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: int(row["id"].rsplit("-", 1)[1]))
    assert [row["y_true"] for row in rows] == ["151.0", "75.0", "141.0"]


def test_missing_model_file_is_named(tmp_path: Path) -> None:
    """A model path that does not exist is named in a one-line error, no traceback."""
    result = mlmon("up", "--model", str(tmp_path / "gone.json"), "--logs", str(tmp_path))
    assert result.returncode == 2
    assert "gone.json does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_environment_value_fails_fast() -> None:
    """A malformed MLMON_* variable stops start-up naming the variable."""
    result = mlmon("config", env={"MLMON_PREFETCH": "lots"})
    assert result.returncode == 2
    assert "MLMON_PREFETCH='lots'" in result.stderr


def test_a_single_service_without_broker_says_what_to_do() -> None:
    """`mlmon metric` with no broker explains the choice instead of failing obscurely."""
    result = mlmon("metric")
    assert result.returncode == 2
    assert "MLMON_BROKER_URL" in result.stderr
    assert "mlmon up" in result.stderr


def test_unreachable_broker_is_named(tmp_path: Path) -> None:
    """A broker nobody listens on is named (password hidden) after a bounded wait, with the
    exit code a supervisor restarts on (a wrong setting exits 2, which it does not)."""
    result = mlmon(
        "features",
        "--broker",
        "amqp://guest:secret@127.0.0.1:1/",
        "--count",
        "1",
        timeout=90,
        env={"MLMON_CONNECT_PATIENCE": "2"},  # the bounded wait, shortened
    )
    assert result.returncode == EXIT_BROKER == 3
    assert "cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:1/" in result.stderr
    assert "secret" not in result.stderr


def test_config_shows_where_each_value_came_from() -> None:
    """`mlmon config` lists every variable with its value and source."""
    result = mlmon("config", "--broker", "amqp://u:p@h:5672/", env={"MLMON_RATE": "7"})
    assert result.returncode == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "flag --broker" in lines["MLMON_BROKER_URL"]
    assert "u:***@h" in lines["MLMON_BROKER_URL"]
    assert "environment" in lines["MLMON_RATE"]
    assert "default" in lines["MLMON_QUEUE_FEATURES"]


def test_train_writes_the_safe_model(tmp_path: Path) -> None:
    """`mlmon train` writes a JSON model that `mlmon up --model` accepts without consent."""
    output = tmp_path / "m.json"
    assert mlmon("train", "--output", str(output)).returncode == 0
    result = mlmon(
        "up",
        "--model",
        str(output),
        "--count",
        "10",
        "--rate",
        "0",
        "--logs",
        str(tmp_path / "logs"),
    )
    assert result.returncode == 0, result.stderr


def test_health_tells_live_from_ready(tmp_path: Path) -> None:
    """`mlmon health` fails with no status, passes --live for an unready service, and
    passes fully once the service is ready and connected."""
    from mlmon.ops.status import ServiceStats, write_status
    from mlmon.settings import Settings

    state = Settings(logs_dir=tmp_path).state_dir
    assert mlmon("health", "metric", "--logs", str(tmp_path)).returncode == 1
    stats = ServiceStats("metric", ready=True, broker=lambda: False)
    write_status(state, stats)
    result = mlmon("health", "metric", "--logs", str(tmp_path))
    assert result.returncode == 1
    assert "broker unreachable" in result.stdout
    assert mlmon("health", "metric", "--live", "--logs", str(tmp_path)).returncode == 0
    stats.broker = lambda: True
    write_status(state, stats)
    assert mlmon("health", "metric", "--logs", str(tmp_path)).returncode == 0


def test_report_agrees_with_the_log(tmp_path: Path) -> None:
    """After a run, `mlmon report --json` gives the MAE of the CSV's own absolute errors."""
    import csv
    import json

    logs = tmp_path / "logs"
    assert mlmon("up", "--count", "200", "--rate", "0", "--logs", str(logs)).returncode == 0
    result = mlmon("report", "--json", "--logs", str(logs))
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)["models"]["diabetes-linear"]["all"]
    with (logs / "metric_log.csv").open(newline="") as handle:
        errors = [float(row["absolute_error"]) for row in csv.DictReader(handle)]
    assert figures["count"] == len(errors) == 200
    assert abs(figures["mae"] - sum(errors) / len(errors)) < 1e-9
    table = mlmon("report", "--logs", str(logs)).stdout
    assert "model diabetes-linear" in table
    assert "label coverage 100.0%" in table
