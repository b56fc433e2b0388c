"""Champion and challengers: names stay distinct, the champion keeps the features queue."""

from __future__ import annotations

from pathlib import Path

from mlmon.app.model_slots import ModelSlot, plan_models


def test_one_model_changes_nothing() -> None:
    assert plan_models([None], ["diabetes-linear"], "features") == [ModelSlot(None, None, None)]
    path = Path("m.json")
    assert plan_models([path], ["m"], "features") == [ModelSlot(path, None, None)]


def test_distinct_names_in_the_files_are_kept_and_challengers_get_own_queues() -> None:
    a, b = Path("x/a.json"), Path("y/b.json")
    slots = plan_models([a, b], ["champion", "challenger v2"], "features")
    assert slots == [
        ModelSlot(a, "champion", None),
        ModelSlot(b, "challenger-v2", "features.challenger-v2"),
    ]
    assert slots[1].env() == {
        "MLMON_MODEL_PATH": "y/b.json",
        "MLMON_MODEL_NAME": "challenger-v2",
        "MLMON_MODEL_QUEUE": "features.challenger-v2",
    }


def test_clashing_names_fall_back_to_file_names_made_distinct() -> None:
    same = [Path("one/model.json"), Path("two/model.json"), Path("three/model-2.json")]
    slots = plan_models(same, ["linear", "linear", "linear"], "q")
    assert [s.name for s in slots] == ["model", "model-2", "model-2-2"]
    assert [s.queue for s in slots] == [None, "q.model-2", "q.model-2-2"]
    assert len({s.name for s in slots}) == 3
