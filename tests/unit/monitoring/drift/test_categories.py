"""Categorical drift and the false discovery control: 100 unshifted features flag at most at
the nominal rate, a shifted categorical column is flagged, an unseen category is drift when it
keeps coming and never a crash."""

from __future__ import annotations

import json
import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency

from mlmon.monitoring.drift import CategoryReference, DriftMonitor, Reference, chi_square
from mlmon.monitoring.drift.categories import MISMATCH, MISSING

FDR = 0.01
SHARES = np.array([0.4, 0.3, 0.2, 0.1])
CATEGORIES = np.array(["a", "b", "c", "d"], dtype=object)
NUMERIC, CATEGORICAL = 70, 30  # 100 features
SEEDS = 40


def _draw(
    rng: np.random.Generator, rows: int, shares: npt.NDArray[np.float64] = SHARES
) -> tuple[npt.NDArray[np.float64], dict[str, npt.NDArray[np.object_]]]:
    numbers = rng.normal(size=(rows, NUMERIC))
    categories = {f"c{j}": rng.choice(CATEGORIES, size=rows, p=shares) for j in range(CATEGORICAL)}
    return numbers, categories


def _monitor(rng: np.random.Generator) -> DriftMonitor:
    numbers, categories = _draw(rng, 2000)
    names = [f"x{j}" for j in range(NUMERIC)]
    reference = Reference.from_data(numbers, names, categorical=categories)
    return DriftMonitor(reference, window=1000, fdr=FDR, min_rows=200)


def test_one_hundred_unshifted_features_flag_at_most_at_the_nominal_rate() -> None:
    """40 windows of 100 unshifted features (70 numeric, 30 categorical): the Benjamini-
    Hochberg flags stay within the nominal rate (under no drift at all, a window flags any
    column with probability at most FDR), where flagging each column at p < FDR would flag
    a column in most windows."""
    flagged_share, windows_flagged, uncorrected_windows = [], 0, 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        monitor = _monitor(rng)
        numbers, categories = _draw(rng, 1000)
        monitor.add(numbers, categories=categories)
        report = monitor.report()
        assert len(report.columns) == NUMERIC + CATEGORICAL
        assert all(column.p_value is not None for column in report.columns)
        flagged_share.append(len(report.drifted_columns) / len(report.columns))
        windows_flagged += report.drifted
        uncorrected_windows += any((column.p_value or 1) < FDR for column in report.columns)
    assert np.mean(flagged_share) <= 2 * FDR
    assert windows_flagged <= 3  # expected at most 0.4 in 40 windows; 3 has odds below 1 %
    assert uncorrected_windows >= SEEDS // 3  # about 1 - 0.99**100 = 63 % of them


def test_one_shifted_categorical_column_is_flagged() -> None:
    """Among the 100, c0's shares move from 40/30/20/10 % to 25/30/25/20 %: c0 is flagged in
    every window, and rarely anything else."""
    others = 0
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        monitor = _monitor(rng)
        numbers, categories = _draw(rng, 1000)
        categories["c0"] = rng.choice(CATEGORIES, size=1000, p=[0.25, 0.3, 0.25, 0.2])
        monitor.add(numbers, categories=categories)
        report = monitor.report()
        column = report.column("c0")
        assert column.drifted, column
        assert column.kind == "categorical"
        assert column.js_distance is not None
        assert column.js_distance > 0.1
        others += len(report.drifted_columns) - 1
    assert others <= 2


def _island_reference() -> Reference:
    islands = np.array(["Biscoe"] * 500 + ["Dream"] * 300 + ["Torgersen"] * 200, dtype=object)
    return Reference.from_data(np.empty((1000, 0)), [], categorical={"island": islands})


def test_an_unseen_category_that_keeps_coming_is_drift() -> None:
    """10 % of the window is 'Atlantis', never in the reference: flagged, no crash; its cell
    is the unseen one."""
    monitor = DriftMonitor(_island_reference(), window=1000)
    values = np.array(["Biscoe"] * 450 + ["Dream"] * 270 + ["Torgersen"] * 180 + ["Atlantis"] * 100)
    monitor.add(np.empty((1000, 0)), categories={"island": values.astype(object)})
    column = monitor.report().column("island")
    assert column.drifted
    assert column.chi2_pvalue is not None
    assert column.chi2_pvalue < 1e-6


def test_a_single_unseen_value_is_not_drift() -> None:
    """One 'Atlantis' among 1,000 in the reference's shares: no flag (data quality counts it)."""
    monitor = DriftMonitor(_island_reference(), window=1000)
    values = np.array(["Biscoe"] * 500 + ["Dream"] * 300 + ["Torgersen"] * 199 + ["Atlantis"])
    monitor.add(np.empty((1000, 0)), categories={"island": values.astype(object)})
    assert monitor.report().drifted_columns == []


def test_codes_take_any_value() -> None:
    reference = _island_reference().categorical[0]
    values = np.array(["Dream", None, float("nan"), 3, True, "Atlantis", "Biscoe"], dtype=object)
    assert reference.codes(values).tolist() == [1, MISSING, MISSING, MISMATCH, MISMATCH, 3, 0]
    assert reference.codes(np.array([1.0, np.nan])).tolist() == [MISMATCH, MISSING]
    assert reference.codes(np.array(["Dream", "x"])).tolist() == [1, 3]


def test_a_bounded_reference_keeps_the_most_frequent_categories() -> None:
    values = np.array([f"v{i % 7}" for i in range(70)] + ["v0"] * 5, dtype=object)
    reference = CategoryReference.from_values("v", values, keep=3)
    assert reference.categories == ("v0", "v1", "v2")
    assert reference.counts.tolist() == [15, 10, 10]
    assert reference.other == 40
    assert not reference.complete
    assert reference.proportions().sum() == pytest.approx(1.0)


def test_chi_square_is_scipys_contingency_test_with_rare_cells_pooled() -> None:
    """Reference and window counts as a 2 x cells table (the reference is a sample too); a
    cell empty on both sides is dropped, rare ones are pooled rarest first."""
    reference, window = np.array([500, 300, 200, 0]), np.array([480, 330, 190, 0])
    expected = chi2_contingency(np.array([reference[:3], window[:3]]), correction=False)
    assert chi_square(reference, window) == pytest.approx((expected.statistic, expected.pvalue))
    rare = chi_square(np.array([500, 495, 5, 0]), np.array([500, 495, 3, 2]))
    pooled = chi2_contingency(np.array([[500, 495, 5], [500, 495, 5]]), correction=False)
    assert rare == pytest.approx((pooled.statistic, pooled.pvalue))
    assert chi_square(np.array([10]), np.array([7])) == (0.0, 1.0)  # one cell: nothing to test


def test_js_distance_is_scipys() -> None:
    monitor = DriftMonitor(_island_reference(), window=1000, min_rows=1)
    monitor.add(np.empty((3, 0)), categories={"island": np.array(["Dream"] * 3, dtype=object)})
    column = monitor.report().column("island")
    assert column.js_distance == pytest.approx(
        jensenshannon([0.5, 0.3, 0.2, 0], [0, 1, 0, 0], base=2)
    )


def test_a_reference_with_categories_round_trips_as_json() -> None:
    reference = _island_reference()
    again = Reference.from_json(reference.to_json())
    assert again.to_json() == reference.to_json()
    assert again.categorical_names == ("island",)
    raw = json.loads(reference.to_json())
    raw["categorical"][0]["counts"] = [1, 2]
    with pytest.raises(ValueError, match="one positive integer"):
        Reference.from_json(json.dumps(raw))


@given(
    st.lists(
        st.none()
        | st.just(float("nan"))
        | st.sampled_from(["a", "b", "c", "z", ""])
        | st.text(max_size=3),
        max_size=40,
    ),
    st.booleans(),
)
def test_codes_of_a_text_column_are_each_values_code(values: list[object], mixed: bool) -> None:
    """A column of texts and gaps is coded in one pass over its distinct values; with a number
    or a boolean among them, value by value: both give each value's own code."""
    reference = CategoryReference.from_values("c", ["a", "a", "b", "c", "d"], keep=3)
    column = [*values, 7, True] if mixed else values
    expected = []
    for value in column:
        if isinstance(value, str):
            known = value in reference.categories
            expected.append(reference.categories.index(value) if known else reference.unseen_cell)
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            expected.append(MISSING)
        else:
            expected.append(MISMATCH)
    assert reference.codes(np.array(column, dtype=object)).tolist() == expected


def test_a_batch_column_coded_twice_is_coded_once() -> None:
    """Data quality and drift code the same column object in turn: the second call gets the
    first one's codes (read-only); another array, even of the same values, is coded anew."""
    reference = CategoryReference.from_values("island", ["Biscoe", "Dream", "Dream"])
    column = np.array(["Dream", None, "Torgersen"], dtype=object)
    first = reference.codes(column)
    assert first.tolist() == [0, MISSING, reference.unseen_cell]
    assert reference.codes(column) is first
    assert not first.flags.writeable
    other = np.array(["Biscoe", "Biscoe", "Dream"], dtype=object)
    assert reference.codes(other).tolist() == [1, 1, 0]
    assert reference.codes(column) is not first  # the last array only is remembered
    assert reference.codes(column).tolist() == first.tolist()
