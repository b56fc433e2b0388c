"""Simulated models whose truth is known, for the estimation tests.

- A classifier over three classes whose true class probabilities are drawn from a Dirichlet
  distribution (`concentration`: the larger, the less confident) and its labels from them; the
  scores it reports are those probabilities sharpened by `sharpen` (1: calibrated; 2:
  over-confident, as boosted trees and neural networks often are).
- A regressor that predicts the conditional mean of y given x, with noise whose spread grows
  with |x0| and with the category in column 1: its absolute error depends on the features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlmon.arrays import Floats

CLASSES = (0.0, 1.0, 2.0)


@dataclass(frozen=True)
class Classified:
    y_true: Floats
    y_pred: Floats
    scores: Floats


def classified(rows: int, concentration: float, seed: int, sharpen: float = 1.0) -> Classified:
    rng = np.random.default_rng(seed)
    truth = rng.dirichlet(np.full(len(CLASSES), concentration), size=rows)
    labels = (rng.random(rows)[:, None] > truth.cumsum(axis=1)).sum(axis=1)
    scores = truth**sharpen
    scores /= scores.sum(axis=1, keepdims=True)
    return Classified(labels.astype(np.float64), scores.argmax(axis=1).astype(np.float64), scores)


@dataclass(frozen=True)
class Regressed:
    features: Floats  # x0 numeric, x1 a category code 0..3
    y_true: Floats
    y_pred: Floats


def regressed(rows: int, mean: float, seed: int) -> Regressed:
    """`mean`: the mean of x0; moving it away from 0 moves rows to where the noise is large."""
    rng = np.random.default_rng(seed)
    x0 = rng.normal(mean, 1.0, rows)
    category = rng.integers(0, 4, rows).astype(np.float64)
    y_pred = 2.0 * x0 + category
    spread = (0.2 + 0.8 * np.abs(x0)) * (1.0 + 0.5 * category)
    y_true = y_pred + rng.normal(0.0, 1.0, rows) * spread
    return Regressed(np.column_stack([x0, category]), y_true, y_pred)
