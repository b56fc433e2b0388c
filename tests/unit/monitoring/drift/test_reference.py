"""Reference: decile bins, a bounded sorted sample, checked input and its JSON file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mlmon.model.dataset import Dataset
from mlmon.monitoring.drift.reference import MAX_SORTED, PREDICTION, ColumnReference, Reference
from mlmon.monitoring.drift.statistics import ks
from tests.unit.monitoring.drift.streams import Predict, bootstrap, report_of


def test_reference_bins_are_deciles_with_open_outer_bins() -> None:
    """Ten bins of a tenth each; stream values past the reference range land in the end bins."""
    column = ColumnReference.from_values("x", np.arange(1000.0), bins=10)
    assert column.edges.size == 9
    np.testing.assert_allclose(column.proportions, 0.1)
    np.testing.assert_array_equal(
        column.bin_proportions(np.array([-1e9, -1.0, 2e9])), [2 / 3] + [0.0] * 8 + [1 / 3]
    )


def test_discrete_columns_get_merged_bins_and_none_empty() -> None:
    """A two-valued column has two bins, a constant one a single bin; none is empty."""
    binary = ColumnReference.from_values("sex", np.array([1.0] * 53 + [2.0] * 47), bins=10)
    assert binary.counts.tolist() == [53, 47]
    constant = ColumnReference.from_values("k", np.full(100, 5.0), bins=10)
    assert constant.counts.tolist() == [100]
    lumpy = ColumnReference.from_values("s4", np.repeat([0.0, 1.0, 2.0, 3.0], [70, 5, 20, 5]), 10)
    assert np.all(lumpy.counts > 0)
    assert lumpy.counts.sum() == 100


def test_reference_keeps_at_most_max_sorted_values() -> None:
    """A large column is subsampled to evenly spread order statistics, deterministically."""
    values = np.random.default_rng(4).normal(size=55_555)
    column = ColumnReference.from_values("x", values, bins=10)
    again = ColumnReference.from_values("x", values, bins=10)
    assert column.sorted_values.size == MAX_SORTED
    assert np.all(np.diff(column.sorted_values) >= 0)
    np.testing.assert_array_equal(column.sorted_values, again.sorted_values)
    statistic, _ = ks(np.sort(values), column.sorted_values)
    assert statistic <= 1 / MAX_SORTED + 1e-9


def test_reference_rejects_bad_input() -> None:
    """Wrong names, a feature named like predictions, or mismatched predictions fail at once."""
    features = np.zeros((10, 2))
    with pytest.raises(ValueError, match="distinct feature names"):
        Reference.from_data(features, ["a"])
    with pytest.raises(ValueError, match="kept for predictions"):
        Reference.from_data(features, ["a", PREDICTION], np.zeros(10))
    with pytest.raises(ValueError, match="9 reference predictions"):
        Reference.from_data(features, ["a", "b"], np.zeros(9))
    with pytest.raises(ValueError, match="no values"):
        Reference.from_data(np.full((3, 1), np.nan), ["a"])


def test_reference_json_round_trip_gives_identical_reports(
    diabetes: tuple[Dataset, Predict, Reference],
) -> None:
    """A reference read back from its plain JSON reports exactly the same figures."""
    data, predict, reference = diabetes
    text = reference.to_json()
    assert json.loads(text)["features"][0]["name"] == "age"
    loaded = Reference.from_json(text)
    assert loaded.to_json() == text
    stream = bootstrap(data)
    stream[:, 2] += 0.02
    assert report_of(loaded, stream, predict(stream)) == report_of(
        reference, stream, predict(stream)
    )


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda raw: "not json", "not JSON"),
        (lambda raw: {**raw, "format": "pickle"}, "not a drift reference"),
        (lambda raw: {**raw, "version": 99}, "version 99"),
        (lambda raw: {**raw, "features": []}, "not both empty"),
        (lambda raw: {**raw, "prediction": {"name": 3}}, "string 'name'"),
        (lambda raw: {**raw, "prediction": {**raw["prediction"], "counts": [1]}}, "number"),
        (lambda raw: {**raw, "prediction": {**raw["prediction"], "edges": ["x"]}}, "edges"),
        (
            lambda raw: {**raw, "prediction": {**raw["prediction"], "sorted_values": [2, 1]}},
            "ascending",
        ),
    ],
)
def test_damaged_reference_json_is_refused(
    diabetes: tuple[Dataset, Predict, Reference],
    damage: Callable[[dict[str, object]], object],
    message: str,
) -> None:
    """A damaged or foreign reference file fails with a ValueError saying what is wrong."""
    damaged = damage(json.loads(diabetes[2].to_json()))
    text = damaged if isinstance(damaged, str) else json.dumps(damaged)
    with pytest.raises(ValueError, match=message):
        Reference.from_json(text)


def test_a_saved_reference_file_carries_its_format_tag(
    diabetes: tuple[Dataset, Predict, Reference], tmp_path: Path
) -> None:
    """The file is tagged "mlmon.drift.reference", version 2; a version 1 file (numbers only,
    no range) still loads, its range the ends of its sorted sample."""
    reference = diabetes[2]
    path = tmp_path / "reference.json"
    path.write_text(reference.to_json(), encoding="utf-8")
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert (raw["format"], raw["version"]) == ("mlmon.drift.reference", 2)
    assert Reference.from_json(path.read_bytes()).to_json() == reference.to_json()
    old = {**raw, "version": 1}
    del old["categorical"]
    for column in old["features"]:
        del column["low"], column["high"]
    loaded = Reference.from_json(json.dumps(old))
    assert loaded.categorical == ()
    bmi = loaded.features[loaded.feature_names.index("bmi")]
    assert (bmi.low, bmi.high) == (bmi.sorted_values[0], bmi.sorted_values[-1])
