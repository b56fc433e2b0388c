"""What a new user meets in their first hour, through the real command line (issue 21)."""

from __future__ import annotations

import csv
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mlmon import __version__
from mlmon.model.dataset import load_dataset
from tests.e2e.cli import free_port, mlmon, mlmon_env

HELP_ENV = {"COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1"}
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR)")


def test_version_prints_and_exits_0() -> None:
    """`mlmon --version` answers with the version, not "Missing command."."""
    result = mlmon("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"mlmon {__version__}"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("up", ["mae[last_500] > 60", "[default: logs]", "[default: 5]", "[default: 8050]"]),
        ("up", ["--model FILE", "--broker URL", "--count N", "[default: id]"]),
        ("features", ["[default: random]", "[default: 5]", "--dataset FILE"]),
        ("model", ["[default: features]", "--model FILE"]),
        ("dashboard", ["[default: 8050]", "[default: 127.0.0.1]", "[default: logs]"]),
        ("plot", ["[default: 10]"]),
    ],
)
def test_help_keeps_brackets_defaults_and_plain_metavars(command: str, expected: list[str]) -> None:
    """Help shows bracketed examples and the settings' defaults; no Python types as metavars."""
    result = mlmon(command, "--help", env=HELP_ENV)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # undo the wrapping
    for needle in expected:
        assert needle in text, f"{needle!r} missing from `mlmon {command} --help`:\n{text}"
    assert "list[" not in text
    assert "<str>" not in text
    assert "<path>" not in text


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("typo: maee[last_500] > 3", "unknown signal 'maee'"),
        ("oh: mae[last_5oo] > 3", "window 'last_5oo' is not tracked"),
        ("sel: label_coverage[all] < 0.9", "takes no [selector]"),
    ],
)
def test_an_alert_rule_that_could_never_fire_stops_start_up(
    tmp_path: Path, rule: str, problem: str
) -> None:
    """`mlmon up --alerts` with an unknown signal or a bad selector exits 2, naming the rule
    and listing the known signals, before anything starts."""
    result = mlmon("up", "--alerts", rule, "--logs", str(tmp_path))
    assert result.returncode == 2
    assert rule.split(":")[0] in result.stderr
    assert problem in result.stderr
    assert "Known signals" in result.stderr
    assert "label_coverage" in result.stderr
    assert "Traceback" not in result.stderr
    assert "dashboard:" not in result.stdout


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_a_dataset_narrower_than_the_model_stops_before_anything_starts(tmp_path: Path) -> None:
    """Three feature columns against the 10-feature default model: exit 2, the columns named,
    no dashboard, no record sent."""
    path = _write_csv(tmp_path / "narrow.csv", ["a", "b", "c", "y"], [[1, 2, 3, 4]] * 5)
    result = mlmon("up", "--dataset", str(path), "--target", "y", "--logs", str(tmp_path))
    assert result.returncode == 2
    assert "dataset narrow.csv has 3 feature columns (a, b, c)" in result.stderr
    assert "expects 10" in result.stderr
    assert "dashboard:" not in result.stdout
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "metric_log.csv").exists()


def test_a_csv_without_target_stops_before_the_dashboard(tmp_path: Path) -> None:
    """--dataset without --target: exit 2 naming the flag, the dashboard never served."""
    path = _write_csv(tmp_path / "d.csv", ["a", "y"], [[1, 2]])
    result = mlmon("up", "--dataset", str(path), "--logs", str(tmp_path))
    assert result.returncode == 2
    assert "needs --target" in result.stderr
    assert "dashboard:" not in result.stdout
    assert "Traceback" not in result.stderr


def test_id_column_names_the_records_and_gaps_are_reported(tmp_path: Path) -> None:
    """An `id` column is the record id (not an 11th feature), rows with a gap are counted in
    one warning, and the run joins every row sent."""
    diabetes = load_dataset()
    rows: list[list[object]] = [
        [f"patient{i}", *features.tolist(), target]
        for i, (features, target) in enumerate(
            zip(diabetes.features[:40], diabetes.target[:40], strict=True)
        )
    ]
    rows[3][2] = ""  # a gap in the first feature
    path = _write_csv(tmp_path / "p.csv", ["id", *diabetes.feature_names, "y"], rows)
    logs = tmp_path / "logs"
    result = mlmon(
        "up",
        *("--dataset", str(path), "--target", "y"),
        *("--count", "39", "--rate", "0", "--no-dashboard", "--logs", str(logs)),
        env={"MLMON_ORDER": "sequential"},
    )
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "missing value" in line]
    assert len(warnings) == 1
    assert "1 of 40 rows have a missing value" in warnings[0]
    with (logs / "metric_log.csv").open() as handle:
        ids = [row["id"] for row in csv.DictReader(handle)]
    assert len(ids) == 39
    assert {i.split("-", 1)[1] for i in ids} == {f"patient{i}" for i in range(40) if i != 3}
    # Every figure the metric service offers to alert rules is in the known list.
    from mlmon.monitoring.alert_rules import SERVICE_SIGNALS

    status = next((logs / ".mlmon" / "status").glob("metric.*.json"))
    figures = json.loads(status.read_text())
    assert set(figures["counters"]) | set(figures["gauges"]) <= set(SERVICE_SIGNALS)


def test_pickle_refusal_and_model_directory_are_explained(tmp_path: Path) -> None:
    """No `mlmon train` advice for a pickle; a directory is called a directory."""
    from tests.conftest import SEED_MODEL

    refused = mlmon("up", "--model", str(SEED_MODEL), "--logs", str(tmp_path))
    assert refused.returncode == 2
    assert "mlmon train" not in refused.stderr
    assert "--trust-pickle" in refused.stderr
    directory = tmp_path / "mlflow_model"
    directory.mkdir()
    result = mlmon("up", "--model", str(directory), "--logs", str(tmp_path))
    assert result.returncode == 2
    assert "is a directory" in result.stderr
    assert "does not exist" not in result.stderr


def _run_in_terminal(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run `python -m mlmon ARGS` with stdout and stderr on one pseudo-terminal, as a user's
    shell would; return its exit code and everything it wrote there."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlmon", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the last writer closed the terminal
                break
            if not chunk:
                break
            output += chunk
        code = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    return code, output.decode("utf-8", errors="replace")


def test_progress_line_and_log_lines_never_share_a_row(tmp_path: Path) -> None:
    """On a terminal, every log line starts on its own row (the progress line is erased
    first), the dashboard address is printed once, and the closing line names the rows."""
    env = mlmon_env({"COLUMNS": "200"})
    port = env["MLMON_DASHBOARD_PORT"]
    code, output = _run_in_terminal(
        ["up", "--count", "60", "--rate", "0", "--logs", str(tmp_path)], env
    )
    assert code == 0, output
    starts = [match.start() for match in LOG_LINE.finditer(output)]
    assert starts, output  # the services log as they start and stop
    for start in starts:
        before = output[:start]
        assert before == "" or before.endswith(("\n", "\r\x1b[2K")), (
            f"a log line shares a row with: {before[-120:]!r}"
        )
    assert output.count(f"127.0.0.1:{port}") == 1, output
    assert "60 rows in" in output
    assert "error_distribution.png" in output


def test_closing_line_says_when_no_row_was_joined(tmp_path: Path) -> None:
    """A model whose predictions overflow (all dead-lettered): the end says no rows were
    joined and where to look, and names no PNG."""
    document = {"format": "mlmon-linear/1", "name": "inf", "coef": [1e308] * 10, "intercept": 0}
    model = tmp_path / "inf.json"
    model.write_text(json.dumps(document))
    names = [*(f"x{i}" for i in range(10)), "y"]
    ones = _write_csv(tmp_path / "ones.csv", names, [[1] * 11])
    # The drift reference: small values, finite predictions (the stream's are not).
    small = np.random.default_rng(0).uniform(-0.01, 0.01, size=(50, 11)).tolist()
    reference = _write_csv(tmp_path / "reference.csv", names, small)
    result = mlmon(
        *("up", "--model", str(model), "--dataset", str(ones), "--target", "y"),
        *("--count", "20", "--rate", "0", "--no-dashboard", "--logs", str(tmp_path)),
        env={"MLMON_REFERENCE": str(reference)},
    )
    assert result.returncode == 0, result.stderr
    assert "no rows were joined" in result.stdout, result.stdout + result.stderr
    assert "error_distribution.png" not in result.stdout


def _open_event_stream(port: int, deadline: float) -> socket.socket:
    """Connect to the dashboard's event stream once it listens; return after the first event."""
    while True:
        try:
            stream = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # the server is not listening yet: poll until the deadline
    stream.sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
    received = b""
    while b"event: snapshot" not in received:
        chunk = stream.recv(4096)
        assert chunk, f"the event stream closed: {received!r}"
        received += chunk
    return stream


def test_ctrl_c_with_a_dashboard_tab_open_stops_cleanly(tmp_path: Path) -> None:
    """SIGINT while the event stream is open: exit 0, no ASGI traceback."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlmon", "up", "--rate", "50", "--logs", str(tmp_path)],
        env=mlmon_env({"MLMON_DASHBOARD_PORT": str(port)}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stream = _open_event_stream(port, time.monotonic() + 60)
        try:
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=60)
        finally:
            stream.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "ASGI callable" not in err
    assert "CancelledError" not in err
    assert "rows in" in out
