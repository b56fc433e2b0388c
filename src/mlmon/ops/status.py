"""Each service's counters, published as a small JSON file that `mlmon up` and health checks read.

One file per process, `<state>/status/<service>.<host>.<pid>.json`, replaced atomically every
`status_interval` seconds. Liveness: the file is fresh (the event loop is turning). Readiness:
the service says it is doing its work and, for broker services, the broker connection is up.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ServiceStats:
    service: str
    counters: Counter[str] = field(default_factory=Counter)
    gauges: dict[str, float] = field(default_factory=dict)
    ready: bool = False  # set by the service once it is doing its work
    stopped: bool = False
    broker: Callable[[], bool] | None = None  # is the broker reachable right now?
    details: dict[str, Any] = field(default_factory=dict)  # JSON-able extras (drift report)
    queue_depths: dict[str, int] = field(default_factory=dict)  # messages ready, per queue read
    started_at: float = field(default_factory=time.time)

    def is_ready(self) -> bool:
        """Doing its work, and (for broker services) connected to the broker."""
        return self.ready and (self.broker is None or self.broker())

    def snapshot(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "pid": os.getpid(),
            "ready": self.is_ready(),
            "broker_connected": None if self.broker is None else self.broker(),
            "stopped": self.stopped,
            "started_at": self.started_at,
            "updated_at": time.time(),
            "counters": dict(self.counters),
            "gauges": dict(self.gauges),
            "details": self.details,
            "queue_depths": dict(self.queue_depths),
        }


def status_dir(state_dir: Path) -> Path:
    return state_dir / "status"


def write_status(state_dir: Path, stats: ServiceStats) -> Path:
    directory = status_dir(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    # Host and pid: containers sharing one logs volume all run as pid 1.
    path = directory / f"{stats.service}.{socket.gethostname()}.{os.getpid()}.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(stats.snapshot()), encoding="utf-8")
    os.replace(temporary, path)
    return path


async def publish_status(state_dir: Path, stats: ServiceStats, interval: float) -> None:
    """Keep the status file fresh until cancelled; leave a last one saying it stopped."""
    try:
        while True:
            write_status(state_dir, stats)
            await asyncio.sleep(interval)
    finally:
        stats.ready = False
        stats.stopped = True
        write_status(state_dir, stats)


def read_statuses(state_dir: Path, since: float = 0.0) -> list[dict[str, Any]]:
    """Every status file updated after `since`."""
    found = []
    for path in sorted(status_dir(state_dir).glob("*.json")):
        try:
            status = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # replaced or removed while we read it
        if status.get("updated_at", 0) >= since:
            found.append(status)
    return found


def pending_halves(statuses: list[dict[str, Any]]) -> dict[str, int]:
    """Halves waiting for their partner, by kind, summed over the metric services' statuses."""
    pending = {"y_true": 0, "y_pred": 0}
    for status in statuses:
        if status.get("service") == "metric":
            for kind in pending:
                pending[kind] += int(status.get("gauges", {}).get(f"pending_{kind}", 0))
    return pending


def totals(statuses: list[dict[str, Any]], service: str) -> Counter[str]:
    total: Counter[str] = Counter()
    for status in statuses:
        if status.get("service") == service:
            total.update(status.get("counters", {}))
    return total
