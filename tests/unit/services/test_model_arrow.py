"""The model service's Arrow path: a batch's rows answered in one Arrow batch, with their
features when the metric service's estimation needs them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

from mlmon.bus import Delivery
from mlmon.model.estimator import EstimatorModel
from mlmon.model.records import ColumnKinds
from mlmon.services.model_arrow import decode_arrow, predict_arrow
from mlmon.wire.arrow import decode_values_arrow
from mlmon.wire.arrow_write import encode_features_arrow


def test_forwarded_features_travel_with_the_arrow_answers() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 1.0, 0.0, 1.0]})
    model = EstimatorModel("lin", "1", 2, LinearRegression().fit(frame, frame["a"]))
    body = encode_features_arrow(
        ["r1", "r2"], {"a": np.array([1.0, 2.0]), "b": np.array([0.0, 1.0])}
    )
    rejected: list[object] = []
    item = decode_arrow(Delivery("features", body, {}, False), rejected)  # type: ignore[arg-type]
    assert item is not None
    for forward in (False, True):
        (answer,), failed = predict_arrow(model, [item], {}, kinds=ColumnKinds(), forward=forward)
        assert not failed
        columns = decode_values_arrow(answer.body)
        if not forward:
            assert columns.features is None
            continue
        assert columns.features is not None
        np.testing.assert_array_equal(columns.features["a"], [1.0, 2.0])
        np.testing.assert_array_equal(columns.features["b"], [0.0, 1.0])
