"""`mlmon up` end to end, in both modes: rows appear, each error is exact, the PNG is whole."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import matplotlib.image

from mlmon.settings import Settings
from tests.conftest import delete_queues
from tests.e2e.cli import mlmon
from tests.robustness.harness import data_queues, row_ids

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_outputs(logs: Path, count: int) -> list[dict[str, str]]:
    """Exactly `count` rows with unique ids and exact errors, and a readable PNG."""
    with (logs / "metric_log.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames is not None
        assert reader.fieldnames[:4] == ["id", "y_true", "y_pred", "absolute_error"]
        rows = list(reader)
    assert len(rows) == count
    assert len({row["id"] for row in rows}) == count
    for row in rows:
        assert float(row["absolute_error"]) == abs(float(row["y_true"]) - float(row["y_pred"]))
    png = logs / "error_distribution.png"
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    height, width, _ = matplotlib.image.imread(png).shape
    assert height > 300
    assert width > 300
    return rows


def test_embedded_up_runs_the_whole_pipeline(tmp_path: Path) -> None:
    """With no broker, `mlmon up --count` runs all four services in one process and stops."""
    logs = tmp_path / "logs"
    result = mlmon("up", "--count", "300", "--rate", "0", "--logs", str(logs))
    assert result.returncode == 0, result.stderr
    assert "embedded in-process bus" in result.stdout
    assert "joined 300" in result.stdout
    check_outputs(logs, 300)


def test_embedded_up_stops_after_duration(tmp_path: Path) -> None:
    """`--duration` stops a paced run by itself, with the rows sent so far joined."""
    logs = tmp_path / "logs"
    started = time.monotonic()
    result = mlmon("up", "--duration", "3", "--rate", "20", "--logs", str(logs))
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    rows = check_outputs(logs, (logs / "metric_log.csv").read_text().count("\n") - 1)
    # Paced at 20 records/s: no more than the run's whole time allows (start-up and shutdown
    # count in `elapsed`, so this holds on a slow machine too), and far fewer than unpaced.
    assert 1 <= len(rows) <= 20 * elapsed + 1
    assert elapsed < 30


def test_broker_up_runs_each_service_as_a_process(
    broker_url: str, tmp_path: Path, queue_names: dict[str, str]
) -> None:
    """With --broker, four supervised processes over RabbitMQ join every record exactly once."""
    logs = tmp_path / "logs"
    env = {f"MLMON_{key.upper()}": value for key, value in queue_names.items()}
    try:
        result = mlmon(
            "up",
            "--broker",
            broker_url,
            "--count",
            "2000",
            "--rate",
            "0",
            "--logs",
            str(logs),
            env=env,
        )
    finally:
        delete_queues(broker_url, queue_names.values())
    assert result.returncode == 0, result.stderr + result.stdout
    assert "RabbitMQ, one process each" in result.stdout
    check_outputs(logs, 2000)
    for service in ("features", "model-1", "metric", "plot"):
        assert (logs / "services" / f"{service}.log").exists()


def test_broker_up_stops_at_once_when_a_service_fails_on_a_wrong_setting(
    broker_url: str, tmp_path: Path, queue_names: dict[str, str]
) -> None:
    """A service that exits on a wrong setting is not restarted (it would fail the same way
    five more times, ~25 s of back-off, before `up` gave up): `up` stops and shows its log."""
    logs = tmp_path / "logs"
    env = {f"MLMON_{key.upper()}": value for key, value in queue_names.items()}
    env["MLMON_MAX_MESSAGE_BYTES"] = "100"  # below one diabetes record: features refuses it
    try:
        result = mlmon(
            "up", "--broker", broker_url, "--count", "10", "--rate", "0", "--logs", str(logs),
            env=env,
        )  # fmt: skip
    finally:
        delete_queues(broker_url, queue_names.values())
    assert result.returncode == 2, result.stderr + result.stdout
    assert "features stopped on an error a restart cannot fix" in result.stderr
    assert "MLMON_MAX_MESSAGE_BYTES=100" in result.stderr
    features_log = (logs / "services" / "features.log").read_text()
    assert features_log.count("MLMON_MAX_MESSAGE_BYTES=100") == 1  # started once, not six times


def test_broker_up_shards_the_metric_and_every_reader_merges_the_shards(
    broker_url: str, tmp_path: Path, queue_names: dict[str, str]
) -> None:
    """`--metric-workers 2`: two metric processes, each its own log shard; every record is in
    exactly one, and the plot and `mlmon report` read both as one log."""
    logs = tmp_path / "logs"
    env = {f"MLMON_{key.upper()}": value for key, value in queue_names.items()}
    env["MLMON_BATCH_SIZE"] = "100"  # 40 batches: both shards get some
    settings = Settings(broker_url=broker_url, metric_workers=2, **queue_names)
    try:
        result = mlmon(
            "up", "--broker", broker_url, "--metric-workers", "2", "--count", "4000",
            "--rate", "0", "--logs", str(logs), "--no-dashboard", env=env,
        )  # fmt: skip
    finally:
        delete_queues(broker_url, data_queues(settings))
    assert result.returncode == 0, result.stderr + result.stdout
    assert not (logs / "metric_log.csv").exists()
    shards = [logs / "metric-shards" / f"{k}-of-2" / "metric_log.csv" for k in (1, 2)]
    ids = [row_ids(path.parent) for path in shards]
    assert all(ids), "a shard got no records"
    assert len(ids[0]) + len(ids[1]) == len(set(ids[0]) | set(ids[1])) == 4000
    for service in ("metric-1-of-2", "metric-2-of-2"):
        assert (logs / "services" / f"{service}.log").exists()
    assert (logs / "error_distribution.png").read_bytes().startswith(PNG_SIGNATURE)
    report = mlmon("report", "--logs", str(logs), "--json", "--from-log")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["join"]["rows"] == 4000
