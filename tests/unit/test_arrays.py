"""rows_by_model: a block's rows split by model code in one pass."""

from __future__ import annotations

import numpy as np

from mlmon.arrays import rows_by_model


def test_each_models_rows_in_log_order() -> None:
    codes = np.array([2, 0, 2, 1, 0, 2, 5], np.int32)
    split = [(code, np.arange(len(codes))[rows].tolist()) for code, rows in rows_by_model(codes)]
    assert split == [(0, [1, 4]), (1, [3]), (2, [0, 2, 5]), (5, [6])]


def test_one_model_or_none() -> None:
    codes = np.full(4, 3, np.int32)
    assert [(code, codes[rows].tolist()) for code, rows in rows_by_model(codes)] == [
        (3, [3, 3, 3, 3])
    ]
    assert list(rows_by_model(np.empty(0, np.int32))) == []
