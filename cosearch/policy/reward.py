"""Rewards of evaluated (architecture, design) pairs (docs/design.md sections 5, 6).

Pure functions of arrays: they work on ``jax.numpy`` or ``numpy`` inputs of
any (broadcast) shape, usually ``[B]`` (one entry per child of an episode).
"""

from __future__ import annotations

import dataclasses

import numpy as np

PRUNED_REWARD = -1.0
# What the co-exploration reward asks for: the accuracy/efficiency trade-off
# (alpha), or the most accurate design at the spec (hardware breaks ties).
MODES = ("tradeoff", "accuracy")


@dataclasses.dataclass(frozen=True)
class RewardConfig:
    """Normalisation bounds and weights of the co-exploration reward.

    Attributes:
      alpha: weight of accuracy in [0, 1]; 1 - alpha weighs efficiency.
      acc_lo: accuracy mapped to -1 (fraction, e.g. 0.5).
      acc_hi: accuracy mapped to +1.
      eff_lo: hardware objective mapped to -1: its spec (images/s or GOPS/W).
      eff_hi: hardware objective mapped to +1 (an upper reference).
      acc_noise: seed-to-seed standard deviation of a child's measured
        accuracy under the proxy training (fraction; measured by
        ``experiments.proxy_fidelity``). Accuracy differences of this size
        are treated as ties (:func:`shrink_accuracy`); 0 takes every
        difference at face value.
      mode: one of :data:`MODES` (:func:`coexplore_reward`).
      tie_weight: in "accuracy" mode, the weight of eff_n added to acc_n, so
        that of two equally accurate designs the more efficient wins.
    """

    alpha: float = 0.5
    acc_lo: float = 0.5
    acc_hi: float = 0.95
    eff_lo: float = 0.0
    eff_hi: float = 1.0
    acc_noise: float = 0.0
    mode: str = "tradeoff"
    tie_weight: float = 0.01

    @property
    def midpoint(self) -> float:
        """The accuracy mapped to 0, (acc_lo + acc_hi) / 2."""
        return 0.5 * (self.acc_lo + self.acc_hi)

    def __post_init__(self):
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"reward alpha must be in [0, 1], got {self.alpha}")
        if not self.acc_hi > self.acc_lo:
            raise ValueError(
                f"reward acc_hi ({self.acc_hi}) must exceed acc_lo ({self.acc_lo})"
            )
        if not self.acc_noise >= 0.0:
            raise ValueError(f"reward acc_noise must be >= 0, got {self.acc_noise}")
        if self.mode not in MODES:
            raise ValueError(f"reward mode {self.mode!r}: expected one of {MODES}")
        if not 0.0 <= self.tie_weight < 1.0:
            raise ValueError(
                f"reward tie_weight must be in [0, 1), got {self.tie_weight}"
            )
        if not self.eff_hi > self.eff_lo:
            raise ValueError(
                f"reward eff_hi ({self.eff_hi}) must exceed eff_lo ({self.eff_lo})"
            )


def normalise(x, lo: float, hi: float, xp=np):
    """clip(2 (x - lo) / (hi - lo) - 1, -1, 1): maps [lo, hi] onto [-1, 1]."""
    return xp.clip(2.0 * (x - lo) / (hi - lo) - 1.0, -1.0, 1.0)


# Fewest measured children from which the spread of true accuracies is
# estimated; with fewer, every accuracy counts as the mean (all ties).
MIN_FOR_SPREAD = 3


def shrink_accuracy(accuracy, measured, noise: float):
    """Accuracy with differences below the measurement noise treated as ties.

    Empirical-Bayes shrinkage toward the mean m of the children measured so
    far: ``m + k (accuracy - m)``, ``k = max(0, 1 - noise^2 / var)``, where
    var is the variance of the measured accuracies. When the measured
    spread is no larger than the seed-to-seed noise (architectures that the
    proxy cannot tell apart), k = 0 and every child gets the same accuracy
    term; when architectures differ by much more than the noise, k -> 1.

    Args:
      accuracy: ``[B]`` accuracies (measured or predicted), fraction.
      measured: ``[N]`` accuracies measured so far (failed children left out).
      noise: seed-to-seed standard deviation of one measurement; 0 returns
        ``accuracy`` unchanged.

    Returns:
      ``[B]`` float64.
    """
    accuracy = np.asarray(accuracy, np.float64)
    if noise <= 0.0:
        return accuracy
    measured = np.asarray(measured, np.float64)
    if measured.size == 0:
        return accuracy
    if measured.size < MIN_FOR_SPREAD:
        return np.where(np.isnan(accuracy), np.nan, measured.mean())
    mean, var = measured.mean(), measured.var(ddof=1)
    k = max(0.0, 1.0 - noise**2 / var) if var > 0 else 0.0
    return mean + k * (accuracy - mean)


def coexplore_reward(accuracy, efficiency, pruned, config: RewardConfig, xp=np):
    """R = alpha acc_n + (1 - alpha) eff_n ("tradeoff" mode) or acc_n +
    tie_weight eff_n ("accuracy" mode: the most accurate design at the
    spec, hardware breaking ties); -1 for a pruned pair.

    Args:
      accuracy: ``[B]`` validation accuracy, fraction in [0, 1].
      efficiency: ``[B]`` hardware objective (images/s or GOPS/W).
      pruned: ``[B]`` bool, True where no design met the specs.
      config: bounds and alpha.

    Returns:
      ``[B]`` rewards in [-1, 1].
    """
    acc_n = normalise(accuracy, config.acc_lo, config.acc_hi, xp)
    eff_n = normalise(efficiency, config.eff_lo, config.eff_hi, xp)
    if config.mode == "accuracy":
        r = acc_n + config.tie_weight * eff_n
    else:
        r = config.alpha * acc_n + (1.0 - config.alpha) * eff_n
    return xp.where(pruned, PRUNED_REWARD, r)


def accuracy_reward(accuracy, config: RewardConfig, xp=np):
    """acc_n alone: the reward of accuracy-only NAS (the sequential strategy)."""
    return normalise(accuracy, config.acc_lo, config.acc_hi, xp)


def soft_constraint_reward(
    accuracy, throughput, spec_fps: float, w: float = -0.07, xp=np
):
    """MnasNet-style soft reward of hardware-aware NAS.

    MnasNet's latency form ``acc (LAT / T)^w`` with w = -0.07 when over the
    target, 0 otherwise, written for throughput (LAT ~ 1 / throughput):
    ``acc (spec / throughput)^w`` when throughput < spec, ``acc`` otherwise.
    A child under spec is penalised by a factor < 1, smoothly.

    Args:
      accuracy: ``[B]`` validation accuracy, fraction.
      throughput: ``[B]`` images/s on the fixed design.
      spec_fps: minimum throughput, images/s (<= 0: no constraint).
      w: the exponent (negative).
    """
    if spec_fps <= 0:
        return accuracy
    ratio = spec_fps / xp.maximum(throughput, 1e-30)
    return xp.where(throughput < spec_fps, accuracy * ratio**w, accuracy)
