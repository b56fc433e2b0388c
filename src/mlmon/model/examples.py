"""Shipped examples (`mlmon up --example NAME`): a dataset that a Python package ships (no
download) and a model trained on it the first time it is asked for.

An example writes its data as a CSV, with an `id` column naming the rows, into a cache
directory (`<logs>/examples/` from the command line), and fits mlmon's own pipeline on it
(training.train_pipeline: imputation, one-hot categories, gradient boosting) in skops format
next to it. Later runs reuse both files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlmon.errors import ConfigError
from mlmon.model.dataset import DEFAULT_ID_COLUMN
from mlmon.model.frame import Task
from mlmon.settings import Settings, column_list

CACHE_DIR = "examples"  # under the logs directory


@dataclass(frozen=True)
class Example:
    name: str
    target: str
    task: Task
    about: str
    write: Callable[[Path], None]  # writes the dataset as a CSV to the path given


@dataclass(frozen=True)
class ResolvedExample:
    """An example's files, ready for the settings."""

    dataset: Path
    target: str
    task: Task
    model: Path | None  # None when not asked for
    skops_trusted: tuple[str, ...]  # the types of `model` skops does not trust by default


def _write_penguins(path: Path) -> None:
    """The Palmer penguins (344 birds, 3 species; palmerpenguins reads the CSV it ships),
    each row named penguin1, penguin2... in file order."""
    from palmerpenguins import load_penguins

    frame = load_penguins()
    frame.insert(0, DEFAULT_ID_COLUMN, [f"penguin{i}" for i in range(1, len(frame) + 1)])
    frame.to_csv(path, index=False)  # a missing value as an empty cell


EXAMPLES: dict[str, Example] = {
    "penguins": Example(
        "penguins",
        "species",
        "classification",
        "Palmer penguins: species from island, bill, flipper, mass, sex and year",
        _write_penguins,
    ),
}

# What skops leaves untrusted in the pipeline train_pipeline fits; a cached model is loaded
# trusting these only, so a file put in its place holding anything else is refused.
PIPELINE_TYPES = (
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


def example_names() -> str:
    return ", ".join(sorted(EXAMPLES))


def resolve_example(name: str, cache_dir: Path, with_model: bool = True) -> ResolvedExample:
    """Example `name`'s dataset (written if absent) and, with `with_model`, its model
    (trained if absent) in `cache_dir`."""
    example = EXAMPLES.get(name)
    if example is None:
        msg = f"unknown example {name!r}; the examples are: {example_names()}"
        raise ConfigError(msg)
    cache_dir.mkdir(parents=True, exist_ok=True)
    dataset = cache_dir / f"{name}.csv"
    if not dataset.is_file():
        _write_atomically(dataset, example.write)
    if not with_model:
        return ResolvedExample(dataset, example.target, example.task, None, ())
    model = cache_dir / f"{name}.skops"
    if model.is_file():
        trusted = _known_types(model)
    else:
        training = cache_dir / f"{name}-training.csv"
        _write_atomically(training, lambda path: _sample(dataset, path))
        trusted = _train(model, training, example.target)
    return ResolvedExample(dataset, example.target, example.task, model, trusted)


def apply_example(settings: Settings, name: str, with_model: bool = True) -> Settings:
    """The settings with example `name`'s dataset, target, task and (`with_model`) model,
    each unless the user gave it (a flag or an MLMON_* variable)."""
    example = resolve_example(name, settings.logs_dir / CACHE_DIR, with_model)
    given = settings.model_fields_set
    update: dict[str, object] = {}
    if "dataset" not in given:
        update["dataset"] = example.dataset
    if "target" not in given:
        update["target"] = example.target
    if "task" not in given:
        update["task"] = example.task
    if example.model is not None and "model_path" not in given:
        update["model_path"] = example.model
        trusted = (*column_list(settings.skops_trusted), *example.skops_trusted)
        update["skops_trusted"] = ",".join(dict.fromkeys(trusted))
    return settings.model_copy(update=update)


# The share of an example's rows its model is fitted on: the stream then shows errors on the
# rows it never saw, as a deployed model makes them, not a perfect score on its own training set.
TRAINING_SHARE = 0.4


def _sample(dataset: Path, path: Path) -> None:
    """A random TRAINING_SHARE of the dataset's rows (the same ones on every machine)."""
    import pandas as pd

    frame = pd.read_csv(dataset)
    frame.sample(frac=TRAINING_SHARE, random_state=0).to_csv(path, index=False)


def _train(model: Path, dataset: Path, target: str) -> tuple[str, ...]:
    """Fit the pipeline on the example's data into `model`; the types it needs trusted."""
    from mlmon.model.training import train_pipeline

    # Written under a temporary name, then renamed: a process reading the cache never sees
    # half a file.
    partial = model.with_name(f".{model.stem}.{os.getpid()}{model.suffix}")
    try:
        trained = train_pipeline(partial, "skops", dataset, target, DEFAULT_ID_COLUMN)
        partial.replace(model)
    finally:
        partial.unlink(missing_ok=True)
    return _expected(trained.untrusted)


def _known_types(model: Path) -> tuple[str, ...]:
    """The untrusted types of a cached model that a model mlmon trains holds."""
    import skops.io

    try:
        return _expected(skops.io.get_untrusted_types(file=model))
    except Exception:
        return ()  # not a skops file: loading it fails, naming the file


def _expected(untrusted: Sequence[str]) -> tuple[str, ...]:
    """The types in PIPELINE_TYPES; any other is left for the loader to refuse by name
    (a scikit-learn release that adds one fails here first, in the tests)."""
    return tuple(name for name in untrusted if name in PIPELINE_TYPES)


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    partial = path.with_name(f".{path.stem}.{os.getpid()}{path.suffix}")
    try:
        write(partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
