"""The dashboard's web app served in-process on given statuses and a written metric log, for
browser tests that need exact inputs (a drift report, a firing alert) rather than a live run."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn

from mlmon.dashboard.app import create_app
from mlmon.dashboard.state import DashboardState
from mlmon.services.dashboard import listening_socket
from tests.e2e.cli import free_port

HEADER = "id,y_true,y_pred,absolute_error,model,model_version,sent_at,joined_at\n"
CLASS_HEADER = HEADER.rstrip("\n") + ",scores,tags\n"
PENGUINS = ("Adelie", "Chinstrap", "Gentoo")


@dataclass
class ServedPage:
    state: DashboardState
    url: str

    def show(self, statuses: list[dict[str, Any]]) -> None:
        """Read the log's new rows and take these statuses: the page gets a new snapshot."""
        self.state.refresh(statuses, recompute=True)


@contextmanager
def served(logs: Path) -> Iterator[ServedPage]:
    """The app on a free port in a thread, with the statuses of no service yet."""
    logs.mkdir(parents=True, exist_ok=True)
    state = DashboardState(logs)
    state.refresh([])
    port = free_port()
    sock = listening_socket("127.0.0.1", port)
    server = uvicorn.Server(uvicorn.Config(create_app(state), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard's app did not start")
        time.sleep(0.02)  # uvicorn has no start event to wait on
    try:
        yield ServedPage(state, f"http://127.0.0.1:{port}/")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def write_log(logs: Path, errors_by_model: Mapping[str, float], rows: int = 1200) -> None:
    """A metric log with `rows` rows per model, each model's errors around its given MAE."""
    rng = np.random.default_rng(7)
    start = time.time() - 60
    lines = [HEADER]
    for k in range(rows):
        for name, mae in errors_by_model.items():
            y_true = float(rng.normal(150, 50))
            y_pred = y_true + float(rng.normal(0, mae * 1.25))
            lines.append(
                f"{name}{k},{y_true!r},{y_pred!r},{abs(y_pred - y_true)!r},{name},1,"
                f"{start + k * 0.05!r},{start + k * 0.05 + 0.01!r}\n"
            )
    (logs / "metric_log.csv").write_text("".join(lines), encoding="utf-8")


def write_class_log(
    logs: Path,
    accuracy_by_model: Mapping[str, float],
    rows: int = 600,
    classes: tuple[str, ...] = PENGUINS,
) -> dict[str, list[tuple[str, str]]]:
    """A classifier's metric log as the metric service writes it: text labels, 0/1 errors and
    CSV-quoted scores; each model right about as often as given. Returns each model's
    (y_true, y_pred) rows."""
    rng = np.random.default_rng(11)
    start = time.time() - 60
    lines = [CLASS_HEADER]
    pairs: dict[str, list[tuple[str, str]]] = {name: [] for name in accuracy_by_model}
    for k in range(rows):
        truth = classes[int(rng.integers(len(classes)))]
        for name, accuracy in accuracy_by_model.items():
            right = rng.random() < accuracy
            pred = truth if right else classes[int(rng.integers(len(classes)))]
            probabilities = rng.dirichlet(np.ones(len(classes)))
            probabilities[classes.index(pred)] += 2.0
            probabilities /= probabilities.sum()
            cell = ", ".join(
                f'""{c}"": {p:.4f}' for c, p in zip(classes, probabilities, strict=True)
            )
            lines.append(
                f"{name}{k},{truth},{pred},{float(truth != pred)},{name},1,"
                f'{start + k * 0.05!r},{start + k * 0.05 + 0.01!r},"{{{cell}}}",\n'
            )
            pairs[name].append((truth, pred))
    (logs / "metric_log.csv").write_text("".join(lines), encoding="utf-8")
    return pairs


def drift_status(
    model: str,
    psi: Mapping[str, float],
    ks_pvalue: float = 0.5,
    alerts: list[dict[str, Any]] | None = None,
    rows: int = 1000,
    extra: Mapping[str, dict[str, Any]] | None = None,
    data_quality: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A model service's status with a drift report (PSI per column, and `extra` columns as
    given), its data quality report if given, and its firing alerts. A column past PSI 0.2
    is drifted, as its test would flag it."""
    columns: dict[str, dict[str, Any]] = {
        name: {
            "kind": "numeric",
            "rows": rows,
            "psi": value,
            "ks_statistic": 0.05,
            "ks_pvalue": ks_pvalue,
            "adjusted_pvalue": ks_pvalue,
            "drifted": value > 0.2 or ks_pvalue < 0.01,
            "warming_up": False,
        }
        for name, value in psi.items()
    }
    columns.update(extra or {})
    report = {
        "model": model,
        "rows": rows,
        "min_rows": 200,
        "warming_up": False,
        "psi_threshold": 0.2,
        "fdr": 0.01,
        "drifted_columns": [name for name, c in columns.items() if c["drifted"]],
        "columns": columns,
    }
    return {
        "service": "model",
        "pid": hash(model) % 100_000,
        "ready": True,
        "stopped": False,
        "started_at": time.time() - 60,
        "updated_at": time.time(),
        "counters": {"predicted": 1000},
        "gauges": {},
        "details": {
            "drift": report,
            "alerts": alerts or [],
            **({"data_quality": {"model": model, **data_quality}} if data_quality else {}),
        },
        "queue_depths": {},
    }


# The PSI of an unshifted stream's columns (noise, well below the 0.2 threshold).
CALM_PSI = {
    "age": 0.0014,
    "sex": 0.0003,
    "bmi": 0.0009,
    "bp": 0.0011,
    "s1": 0.0006,
    "prediction": 0.0008,
}
