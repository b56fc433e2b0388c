"""A label's code is its text's alone; a code asked for without remembering is the same code,
kept nowhere and counted against no budget (score keys a producer chose freely)."""

from __future__ import annotations

import uuid

from mlmon.metric_log.cells import parse_scores
from mlmon.wire.labels import coded_here, known_labels, label_code, label_text


def test_a_code_not_remembered_is_the_same_code_and_kept_nowhere() -> None:
    text = f"class-{uuid.uuid4().hex}"
    before = coded_here()
    code = label_code(text, remember=False)
    assert coded_here() == before
    assert text not in known_labels().values()
    assert label_text(code) is None
    assert label_code(text) == code  # remembered now, the same code
    assert coded_here() == before + 1
    assert label_text(code) == text


def test_score_keys_parsed_without_remembering_code_nothing() -> None:
    key = f"stranger-{uuid.uuid4().hex}"
    before = coded_here()
    matrix = parse_scores([f'{{"{key}": 0.25, "2": 0.75}}'], remember=False)
    assert coded_here() == before
    assert key not in known_labels().values()
    assert matrix.classes == (label_code(key, remember=False), 2.0)
    assert matrix.values.tolist() == [[0.25, 0.75]]
