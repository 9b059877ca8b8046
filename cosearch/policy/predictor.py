"""Accuracy predictor fitted online on the children trained so far.

The fast level knows, for every proposal, whether it meets the specs and
what its best hardware gives; only accuracy needs training. This module
predicts a child's accuracy from its architecture alone, by ridge regression
on a few size and shape features fitted to the accuracies measured so far
(the search's accuracy cache), so that

- the proposals that survive the fast level but are not trained still get
  a reward (its hardware part exact, its accuracy part predicted), and the
  controller learns from every proposal, not only from the few children
  trained;
- coexplore trains the survivors of highest predicted reward first.

Features (each standardised over the fitted set): log MACs per image, log
conv parameters, log inputs of the dense head, receptive field over the
input width, mean log2 filters. With fewer than ``min_points`` measured
children the prediction is the mean measured accuracy (or ``prior`` with
none), so that nothing is ranked on no evidence.

A pure function of its inputs: the fit sorts the measured children by name,
so every process of a run (and a resumed run) predicts the same values.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from cosearch.hardware.architecture import Architecture

FEATURES = (
    "log_macs",
    "log_conv_params",
    "log_head_inputs",
    "receptive_field",
    "mean_log2_filters",
)


def features(arch: Architecture, input_shape: Sequence[int]) -> np.ndarray:
    """``[F]`` float64 features of one architecture (order of FEATURES)."""
    layers = arch.conv_layers(input_shape)
    params = sum(lay.k * lay.k * lay.n * lay.m + lay.m for lay in layers)
    last = layers[-1]
    return np.array(
        [
            math.log(arch.macs(input_shape)),
            math.log(params),
            math.log(last.out_rows * last.out_cols * last.m),
            arch.receptive_field() / float(input_shape[1]),
            float(np.mean([math.log2(f) for _, f, _ in arch.layers])),
        ],
        np.float64,
    )


@dataclasses.dataclass(frozen=True)
class AccuracyPredictor:
    """A fitted predictor (see the module docstring).

    Attributes:
      mean: mean measured accuracy (the prediction without enough points).
      x_mean, x_std: ``[F]`` standardisation of the features.
      weights: ``[F]`` ridge weights on standardised features; None when
        fewer than ``min_points`` children were measured.
      input_shape: (height, width, channels) of the children's input.
      points: measured children the fit used.
      low, high: the lowest and highest measured accuracy; predictions are
        clipped to them (the fit is not trusted beyond what was measured).
    """

    mean: float
    x_mean: np.ndarray | None
    x_std: np.ndarray | None
    weights: np.ndarray | None
    input_shape: tuple[int, int, int]
    points: int
    low: float = 0.0
    high: float = 1.0

    def predict(self, archs: Sequence[Architecture]) -> np.ndarray:
        """``[B]`` float64 predicted validation accuracy, within the measured
        range."""
        if self.weights is None or not archs:
            return np.full(len(archs), self.mean)
        x = np.stack([features(a, self.input_shape) for a in archs])
        z = (x - self.x_mean) / self.x_std
        return np.clip(self.mean + z @ self.weights, self.low, self.high)


def fit(
    measured: Mapping[str, float],
    input_shape: Sequence[int],
    *,
    ridge: float = 1.0,
    min_points: int = 4,
    prior: float = 0.5,
) -> AccuracyPredictor:
    """Ridge regression of accuracy on :data:`FEATURES`.

    Args:
      measured: validation accuracy by architecture string (failed children
        left out by the caller).
      input_shape: (height, width, channels).
      ridge: L2 penalty on the standardised weights (the intercept is free).
      min_points: fewest children to fit weights on.
      prior: the prediction when nothing is measured.
    """
    shape = tuple(int(v) for v in input_shape)
    names = sorted(measured)
    if not names:
        return AccuracyPredictor(prior, None, None, None, shape, 0)
    y = np.array([measured[n] for n in names], np.float64)
    mean = float(y.mean())
    if len(names) < min_points:
        return AccuracyPredictor(mean, None, None, None, shape, len(names))
    x = np.stack([features(Architecture.parse(n), shape) for n in names])
    x_mean, x_std = x.mean(axis=0), x.std(axis=0)
    x_std = np.where(x_std > 1e-12, x_std, 1.0)  # a constant feature weighs 0
    z = (x - x_mean) / x_std
    a = z.T @ z + ridge * np.eye(z.shape[1])
    weights = np.linalg.solve(a, z.T @ (y - mean))
    return AccuracyPredictor(
        mean, x_mean, x_std, weights, shape, len(names), float(y.min()), float(y.max())
    )
