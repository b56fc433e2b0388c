"""Drift against a reference: PSI and KS as scipy computes them, on a sliding window."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp
from sklearn.linear_model import LinearRegression

from mlmon.model.dataset import Dataset, load_dataset
from mlmon.monitoring.drift import (
    MAX_SORTED,
    PREDICTION,
    ColumnReference,
    DriftMonitor,
    DriftReport,
    Reference,
    ks,
    psi,
)

Matrix = npt.NDArray[np.float64]
Predict = Callable[[Matrix], Matrix]


@pytest.fixture(scope="module")
def diabetes() -> tuple[Dataset, Predict, Reference]:
    """The whole diabetes set as reference, with a fitted linear model's predictions."""
    data = load_dataset()
    model = LinearRegression().fit(data.features, data.target)

    def predict(rows: Matrix) -> Matrix:
        return np.asarray(model.predict(rows), dtype=np.float64)

    reference = Reference.from_data(data.features, data.feature_names, predict(data.features))
    return data, predict, reference


def bootstrap(data: Dataset, rows: int = 1000, seed: int = 7) -> Matrix:
    """Rows drawn with replacement from the dataset (a stream with no drift)."""
    return data.features[np.random.default_rng(seed).integers(0, len(data.features), rows)]


def report_of(reference: Reference, features: Matrix, predictions: Matrix | None) -> DriftReport:
    monitor = DriftMonitor(reference, window=1000)
    monitor.add(features, predictions)
    return monitor.report()


# KS


@pytest.mark.parametrize(
    ("n1", "n2", "ties"),
    [(5, 7, False), (50, 50, False), (442, 1000, False), (1000, 10_000, False), (3000, 200, True)],
)
def test_ks_matches_scipy(n1: int, n2: int, ties: bool) -> None:
    """Statistic and p-value agree with scipy.stats.ks_2samp to 1e-12."""
    rng = np.random.default_rng(n1 * n2)
    if ties:
        a, b = rng.integers(0, 6, n1).astype(float), rng.integers(1, 7, n2).astype(float)
    else:
        a, b = rng.normal(size=n1), rng.normal(0.1, 1.2, size=n2)
    statistic, p_value = ks(np.sort(a), b)
    assert statistic == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)
    expected = ks_2samp(a, b, method="asymp")
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-12, abs=1e-300)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-3, 3) | st.floats(-1e6, 1e6), min_size=2, max_size=60),
    st.lists(st.integers(-3, 3) | st.floats(-1e6, 1e6), min_size=2, max_size=60),
)
def test_ks_matches_scipy_on_any_samples(a: list[float], b: list[float]) -> None:
    """Any two samples, ties and all: the same statistic and p-value as scipy's asymptotic test."""
    statistic, p_value = ks(np.sort(np.asarray(a, dtype=float)), b)
    expected = ks_2samp(a, b, method="asymp")
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-12, abs=1e-300)


def test_ks_of_a_sample_with_itself_is_zero() -> None:
    """The same values on both sides: statistic 0 and p-value 1."""
    values = np.sort(np.random.default_rng(1).normal(size=300))
    assert ks(values, values[::-1]) == (0.0, 1.0)


def test_ks_rejects_an_empty_sample() -> None:
    """An empty window has no distribution to compare."""
    with pytest.raises(ValueError, match="non-empty"):
        ks(np.arange(3.0), np.array([]))


# PSI


def psi_by_loop(expected: list[float], actual: list[float], eps: float = 1e-4) -> float:
    """The textbook formula, one bin at a time."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, eps), max(a, eps)
        total += (a - e) * math.log(a / e)
    return total


def test_psi_two_bins_by_hand() -> None:
    """50/50 against 80/20: 0.3 ln 1.6 - 0.3 ln 0.4 = 0.3 ln 4."""
    assert psi([0.5, 0.5], [0.8, 0.2]) == pytest.approx(0.3 * math.log(4), rel=1e-12)


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ([0.1] * 10, [0.05, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.15, 0.15]),
        ([0.25, 0.25, 0.25, 0.25], [0.0, 0.2, 0.3, 0.5]),
        ([0.6, 0.4], [0.4, 0.6]),
    ],
)
def test_psi_matches_the_textbook_loop(expected: list[float], actual: list[float]) -> None:
    """The vectorised PSI equals a bin-by-bin loop, empty bins clipped at eps included."""
    assert psi(expected, actual) == pytest.approx(psi_by_loop(expected, actual), rel=1e-12)


def test_psi_is_zero_for_identical_and_symmetric_in_its_arguments() -> None:
    """No change gives 0; swapping reference and window gives the same value."""
    props = [0.1, 0.2, 0.3, 0.4]
    other = [0.25, 0.25, 0.3, 0.2]
    assert psi(props, props) == 0.0
    assert psi(props, other) == pytest.approx(psi(other, props), rel=1e-12)
    assert psi(props, other) > 0


def test_psi_stays_finite_when_a_bin_empties() -> None:
    """A window with nothing in a reference bin gives a large but finite PSI."""
    value = psi([0.5, 0.5], [1.0, 0.0])
    assert math.isfinite(value)
    assert value == pytest.approx(psi_by_loop([0.5, 0.5], [1.0, 0.0]), rel=1e-12)
    assert value > psi([0.5, 0.5], [0.9, 0.1])


def test_psi_grows_with_the_shift_alike_either_way() -> None:
    """On a symmetric reference, PSI grows with |shift| and a shift left scores like one right."""
    rng = np.random.default_rng(3)
    column = ColumnReference.from_values("x", rng.normal(size=50_000), bins=10)
    noise = rng.normal(size=20_000)
    values = []
    for shift in (0.0, 0.25, 0.5, 1.0, 2.0):
        right = psi(column.proportions, column.bin_proportions(noise + shift))
        left = psi(column.proportions, column.bin_proportions(noise - shift))
        assert right == pytest.approx(left, rel=0.15, abs=0.01)
        values.append(right)
    assert values[0] < 0.01
    assert values == sorted(values)
    assert values[-1] > 1


# Reference


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
        (lambda raw: {**raw, "features": []}, "non-empty 'features'"),
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


# The monitor on the diabetes data


def test_a_resampled_stream_is_not_flagged(diabetes: tuple[Dataset, Predict, Reference]) -> None:
    """1,000 rows bootstrapped from the reference itself: no column drifted."""
    data, predict, reference = diabetes
    stream = bootstrap(data)
    report = report_of(reference, stream, predict(stream))
    assert not report.warming_up
    assert report.drifted_columns == []
    assert [column.name for column in report.columns] == [*data.feature_names, PREDICTION]
    assert all(column.psi is not None and column.psi < 0.1 for column in report.columns)


def test_a_shifted_feature_is_flagged_alone(diabetes: tuple[Dataset, Predict, Reference]) -> None:
    """bmi shifted by one standard deviation: bmi drifts (PSI and KS), no other feature does."""
    data, predict, reference = diabetes
    bmi = data.feature_names.index("bmi")
    stream = bootstrap(data)
    stream[:, bmi] += data.features[:, bmi].std()
    report = report_of(reference, stream, predict(stream))
    column = report.column("bmi")
    assert column.drifted
    assert column.psi is not None
    assert column.psi > 0.2
    assert column.ks_pvalue is not None
    assert column.ks_pvalue < 0.01
    # The model leans on bmi, so its predictions move too.
    assert report.drifted_columns == ["bmi", PREDICTION]


def test_shifted_predictions_are_flagged(diabetes: tuple[Dataset, Predict, Reference]) -> None:
    """Predictions moved by one standard deviation, features unchanged: only 'prediction'."""
    data, predict, reference = diabetes
    stream = bootstrap(data)
    shift = predict(data.features).std()
    report = report_of(reference, stream, predict(stream) + shift)
    assert report.drifted_columns == [PREDICTION]
    assert report.drifted


def test_warming_up_window_is_never_flagged(diabetes: tuple[Dataset, Predict, Reference]) -> None:
    """Fewer than min_rows rows are not flagged however far they moved; the next row flags."""
    data, predict, reference = diabetes
    stream = bootstrap(data, rows=200) + 1.0
    monitor = DriftMonitor(reference, window=1000, min_rows=200)
    monitor.add(stream[:199], predict(stream[:199]))
    early = monitor.report()
    assert early.warming_up
    assert early.drifted_columns == []
    assert all(column.warming_up for column in early.columns)
    monitor.add(stream[199:], predict(stream[199:]))
    assert not monitor.report().warming_up
    assert "bmi" in monitor.report().drifted_columns


def test_empty_monitor_reports_no_figures(diabetes: tuple[Dataset, Predict, Reference]) -> None:
    """Before any row: every column warming up, no statistics, and the dict is valid JSON."""
    report = DriftMonitor(diabetes[2]).report()
    assert report.rows == 0
    assert all(column.psi is None and column.warming_up for column in report.columns)
    json.dumps(report.to_dict(), allow_nan=False)


def test_ring_buffer_reports_exactly_the_last_window(
    diabetes: tuple[Dataset, Predict, Reference],
) -> None:
    """5,000 rows added in uneven chunks with window 1,000: the report of the last 1,000 alone."""
    data, predict, reference = diabetes
    rows = bootstrap(data, rows=5000, seed=11)
    rows[:4000] += 0.05  # older rows drift; they must have left the window
    predictions = predict(rows)
    monitor = DriftMonitor(reference, window=1000)
    start = 0
    for size in [1, 999, 1, 1500, 7, 333, 2000, 159]:
        monitor.add(rows[start : start + size], predictions[start : start + size])
        start += size
    assert start == 5000
    assert monitor.rows == 1000
    last = DriftMonitor(reference, window=1000)
    last.add(rows[-1000:], predictions[-1000:])
    assert monitor.report() == last.report()
    assert monitor.report().drifted_columns == []
    at_once = DriftMonitor(reference, window=1000)
    at_once.add(rows, predictions)
    assert at_once.report() == last.report()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=30), st.integers(1, 60))
def test_any_chunking_keeps_the_last_window(sizes: list[int], window: int) -> None:
    """However rows are batched, the window holds the last `window` of them."""
    rows = np.arange(sum(sizes) * 2, dtype=float).reshape(-1, 2)
    reference = Reference.from_data(rows, ["a", "b"], rows[:, 0], bins=4)
    monitor = DriftMonitor(reference, window=window, min_rows=1)
    start = 0
    for size in sizes:
        monitor.add(rows[start : start + size], rows[start : start + size, 1])
        start += size
    expected = DriftMonitor(reference, window=window, min_rows=1)
    expected.add(rows[-window:], rows[-window:, 1])
    assert monitor.rows == min(window, len(rows))
    assert monitor.report() == expected.report()


def test_rows_without_predictions_leave_the_prediction_column_out(
    diabetes: tuple[Dataset, Predict, Reference],
) -> None:
    """Feature rows added with no predictions: features are compared, predictions wait."""
    data, _, reference = diabetes
    monitor = DriftMonitor(reference)
    monitor.add(bootstrap(data))
    report = monitor.report()
    assert report.column(PREDICTION).rows == 0
    assert report.column(PREDICTION).warming_up
    assert report.column("bmi").rows == 1000
    assert report.drifted_columns == []


def test_missing_values_are_left_out(diabetes: tuple[Dataset, Predict, Reference]) -> None:
    """NaN in a feature counts as missing: that column holds fewer values, none of them NaN."""
    data, predict, reference = diabetes
    stream = bootstrap(data)
    stream[:100, 0] = np.nan
    report = report_of(reference, stream, predict(np.nan_to_num(stream)))
    assert report.column("age").rows == 900
    age = report.column("age").psi
    assert age is not None
    assert math.isfinite(age)


def test_monitor_rejects_mismatched_rows(diabetes: tuple[Dataset, Predict, Reference]) -> None:
    """Wrong width, wrong prediction count or predictions without a reference fail loudly."""
    data, _, reference = diabetes
    monitor = DriftMonitor(reference)
    with pytest.raises(ValueError, match="rows of 10 features"):
        monitor.add(np.zeros((3, 9)))
    with pytest.raises(ValueError, match="2 predictions for 3"):
        monitor.add(np.zeros((3, 10)), np.zeros(2))
    no_predictions = DriftMonitor(Reference.from_data(data.features, data.feature_names))
    with pytest.raises(ValueError, match="reference has none"):
        no_predictions.add(np.zeros((1, 10)), np.zeros(1))
    with pytest.raises(ValueError, match="min_rows"):
        DriftMonitor(reference, window=100, min_rows=200)


def test_report_dict_is_plain_json(diabetes: tuple[Dataset, Predict, Reference]) -> None:
    """to_dict() holds the drifted columns and each column's figures, as strict JSON."""
    data, predict, reference = diabetes
    stream = bootstrap(data)
    report = report_of(reference, stream, predict(stream) + 100.0)
    payload = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert payload["drifted_columns"] == [PREDICTION]
    assert payload["columns"]["bmi"]["drifted"] is False
    assert set(payload["columns"][PREDICTION]) == {
        "rows",
        "psi",
        "ks_statistic",
        "ks_pvalue",
        "drifted",
        "warming_up",
    }


def test_ks_of_two_single_values_has_a_p_value() -> None:
    """One value each side: scipy's effective size rounds to 0; ours stays 1, so p is defined."""
    assert ks(np.array([1.0]), np.array([2.0])) == (1.0, 0.0)
    assert ks(np.array([1.0]), np.array([1.0])) == (0.0, 1.0)
