"""Champion and challengers: which model services `mlmon up` runs, under which names and queues.

With one model nothing changes: it reads the features queue under its own name. With several,
the first is the champion and keeps the features queue (where the seeds publish too); each
challenger reads `<features queue>.<name>`, bound to the same fan-out exchange. Every model
must have a distinct name, since the metric service keeps its figures per name: the names in
the model files when they differ, else the file names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class ModelSlot:
    path: Path | None  # None: the shipped default model
    name: str | None  # None: keep the name in the model file
    queue: str | None  # None: the features queue itself

    def env(self) -> dict[str, str]:
        """The MLMON_* variables that make a model process take this slot."""
        found = {"MLMON_MODEL_PATH": self.path, "MLMON_MODEL_NAME": self.name}
        found["MLMON_MODEL_QUEUE"] = self.queue
        return {key: str(value) for key, value in found.items() if value is not None}


def plan_models(
    paths: list[Path | None], loaded_names: list[str], features_queue: str
) -> list[ModelSlot]:
    """One slot per model file, champion first; `loaded_names` are the names the files give."""
    if len(paths) <= 1:
        return [ModelSlot(paths[0] if paths else None, None, None)]
    if len(set(loaded_names)) == len(loaded_names):
        names = [_safe(name) for name in loaded_names]
    else:
        names = [_safe(path.stem if path else "default") for path in paths]
    names = _distinct(names)
    return [
        ModelSlot(path, name, None if index == 0 else f"{features_queue}.{name}")
        for index, (path, name) in enumerate(zip(paths, names, strict=True))
    ]


def _safe(name: str) -> str:
    name = _UNSAFE.sub("-", name).strip("-") or "model"
    # `<features>.dead` is the champion's dead-letter queue, not a challenger's.
    return "dead-model" if name == "dead" else name


def _distinct(names: list[str]) -> list[str]:
    """Suffix repeated names with -2, -3...: two copies of one file still compare."""
    taken: set[str] = set()
    result = []
    for name in names:
        candidate, copy = name, 1
        while candidate in taken:
            copy += 1
            candidate = f"{name}-{copy}"
        taken.add(candidate)
        result.append(candidate)
    return result
