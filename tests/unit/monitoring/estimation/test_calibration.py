"""Isotonic calibration one class against the rest: rows sum to 1 and follow the frequency."""

from __future__ import annotations

import numpy as np
import pytest

from mlmon.monitoring.estimation.calibration import ScoreCalibrator
from tests.unit.monitoring.estimation.simulated import classified


def test_over_confident_scores_are_pulled_to_the_observed_frequency() -> None:
    """Scores sharpened by squaring: among rows whose top calibrated probability is near q,
    the top class is right about q of the time, within three binomial standard errors."""
    ref = classified(10_000, 0.5, seed=31, sharpen=2.0)
    calibrator = ScoreCalibrator(ref.scores, ref.y_true)
    rows = classified(20_000, 0.5, seed=32, sharpen=2.0)
    calibrated = calibrator(rows.scores)
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)
    top = calibrated.max(axis=1)
    hit = calibrated.argmax(axis=1) == rows.y_true
    for low in (0.4, 0.6, 0.8):
        band = (top >= low) & (top < low + 0.2)
        rate, mean = float(hit[band].mean()), float(top[band].mean())
        assert abs(rate - mean) <= 3 * np.sqrt(rate * (1 - rate) / band.sum()) + 0.02


def test_binary_is_one_map_and_its_complement() -> None:
    rng = np.random.default_rng(33)
    positive = rng.random(1000)
    truth = (rng.random(1000) < positive**2).astype(np.float64)
    calibrator = ScoreCalibrator(np.column_stack([1 - positive, positive]), truth)
    calibrated = calibrator(np.column_stack([1 - positive, positive]))
    np.testing.assert_allclose(calibrated[:, 0], 1 - calibrated[:, 1])
    assert np.all(np.diff(calibrated[np.argsort(positive), 1]) >= 0)  # monotone in the score


def test_a_row_every_map_sends_to_zero_keeps_its_scores() -> None:
    scores = np.array([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]] * 50)
    truth = np.tile([0.0, 1.0, 2.0], 50)
    calibrator = ScoreCalibrator(scores, truth)
    unseen = np.array([[0.02, 0.02, 0.04]])  # below every reference score: all maps give 0
    assert calibrator(unseen) == pytest.approx(unseen / unseen.sum())
