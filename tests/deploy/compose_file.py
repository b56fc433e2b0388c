"""Reading compose.yaml in tests: shared by the container and dashboard tests."""

from __future__ import annotations

from typing import Any


def volume_mounts(service: dict[str, Any]) -> dict[str, str]:
    """{container path: host path} of a service's short-syntax or long-syntax volumes."""
    mounts = {}
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            mounts[str(entry["target"])] = str(entry.get("source", ""))
        else:
            source, target = str(entry).split(":")[:2]
            mounts[target] = source
    return mounts
