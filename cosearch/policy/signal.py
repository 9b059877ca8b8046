"""The accuracy a search expects of the proposals it does not train
(docs/design.md section 5.4).

coexplore rewards every proposal the fast level keeps, but trains a few: the
others need an expected accuracy, which also decides which survivors are
trained. A :class:`Signal` gives it, as ``search.accuracy_signal`` names:

- ``"predictor"``: the ridge predictor on structural features fitted on the
  children measured so far (:mod:`cosearch.policy.predictor`), shrunk toward
  their mean by the proxy's noise;
- a training-free score of :data:`cosearch.child.scores.SCORES`, or several
  joined by ``+`` (the mean of their standardised values): the score's
  standardised value ``z`` (over a fixed uniform sample of the space, so
  that it does not drift with the policy) gives

      expected = m + rho * s * z

  the mean of accuracy given the score when both are jointly normal with
  correlation ``rho`` (``search.signal_rho``, measured against a reference
  set); ``m`` and ``s`` are the mean and the spread of the true accuracies
  of the children measured so far (their variance less the proxy's noise
  variance), or, with fewer than :data:`MIN_MEASURED`, the reward's
  midpoint and a quarter of its accuracy range.

Either way a proposal's expectation depends only on its architecture and
what was measured, so every process of a run (and a resumed run) computes
the same values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import jax
import numpy as np

from cosearch.child import scores as scores_lib
from cosearch.data import Dataset
from cosearch.hardware.architecture import Architecture
from cosearch.policy import masks
from cosearch.policy import predictor as predictor_lib
from cosearch.policy.reward import RewardConfig, shrink_accuracy
from cosearch.policy.space import SearchSpace

PREDICTOR = "predictor"
# Fewest measured children from which m and s come from the measurements.
MIN_MEASURED = 3
# Uniform architectures that fix a score's standardisation.
SAMPLE = 256


def parse(name: str) -> tuple[str, ...]:
    """``"predictor"`` -> ``()``; ``"a+b"`` -> the score names, checked.

    Raises:
      ValueError: an unknown score name, listing the known ones.
    """
    if name == PREDICTOR:
        return ()
    return scores_lib.check_names([part.strip() for part in name.split("+")])


@dataclasses.dataclass(frozen=True)
class Standardisation:
    """Mean and standard deviation of each score over a uniform sample."""

    names: tuple[str, ...]
    mean: np.ndarray  # [S]
    std: np.ndarray  # [S]

    def z(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """``[B]`` mean over the scores of their standardised values; a
        non-finite score (NASWOT's log det of a singular kernel) counts as
        the sample's mean, i.e. as no information."""
        zs = [
            (np.asarray(values[n], np.float64) - mu) / sd
            for n, mu, sd in zip(self.names, self.mean, self.std, strict=True)
        ]
        z = np.mean(zs, axis=0)
        return np.where(np.isfinite(z), z, 0.0)


def _or(values: np.ndarray, stat, empty: float) -> float:
    """``stat(values)`` of a non-empty array, else ``empty``."""
    return float(stat(values)) if values.size else empty


class Signal:
    """Expected accuracies of a search's proposals (see the module docstring).

    Args:
      name: ``search.accuracy_signal``.
      rho: ``search.signal_rho``, in [0, 1].
      space: the search space (its architecture part is sampled).
      reward: the reward's accuracy bounds and the proxy's noise.
      dataset: training images for network scores.
      head: the children's head.
      seed: the run's seed (the uniform sample, images and initialisations).
    """

    def __init__(
        self,
        name: str,
        rho: float,
        space: SearchSpace,
        reward: RewardConfig,
        dataset: Dataset,
        head: str,
        seed: int,
    ):
        self.name = name
        self.names = parse(name)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"signal rho must be in [0, 1], got {rho}")
        self.rho = rho
        self.space, self.reward = space, reward
        self.dataset, self.head = dataset, head
        self.key = jax.random.fold_in(jax.random.key(seed), 0x5C0E)
        self._scorer: scores_lib.Scorer | None = None
        self._standard: Standardisation | None = None
        self._cache: dict[str, dict[str, float]] = {}

    def scores(self, archs: Sequence[Architecture]) -> dict[str, np.ndarray]:
        """The signal's scores ``[B]`` by name (each architecture scored once
        per run)."""
        todo = [a for a in dict.fromkeys(archs) if str(a) not in self._cache]
        if todo and self._scorer is None:
            arch = self.space.arch
            self._scorer = scores_lib.Scorer(max(arch.kernels), max(arch.filters))
        if todo:
            got = self._scorer.score(
                todo, self.dataset, self.key, self.names, head=self.head
            )
            for i, a in enumerate(todo):
                self._cache[str(a)] = {n: float(got[n][i]) for n in self.names}
        return {
            n: np.array([self._cache[str(a)][n] for a in archs], np.float64)
            for n in self.names
        }

    def standardisation(self) -> Standardisation:
        """The scores' mean and spread over :data:`SAMPLE` uniform
        architectures of the space (drawn once)."""
        if self._standard is None:
            arch_only = self.space.architecture_only()
            tokens = masks.uniform_sample(arch_only, self.key, SAMPLE)
            sample = [a for a, _ in arch_only.decode_batch(np.asarray(tokens))]
            values = self.scores(sample)
            finite = {n: v[np.isfinite(v)] for n, v in values.items()}
            mean = np.array([_or(finite[n], np.mean, 0.0) for n in self.names])
            std = np.array([_or(finite[n], np.std, 1.0) for n in self.names])
            self._standard = Standardisation(
                self.names, mean, np.where(std > 1e-12, std, 1.0)
            )
        return self._standard

    def prepare(
        self, archs: Sequence[Architecture], measured: Mapping[str, float], input_shape
    ) -> np.ndarray:
        """``[B]`` what :meth:`expect` turns into accuracies: the predictor's
        prediction (fitted on ``measured``), or the standardised score."""
        if not self.names:
            fitted = predictor_lib.fit(
                measured, input_shape, prior=self.reward.midpoint
            )
            return fitted.predict(archs)
        return self.standardisation().z(self.scores(archs))

    def expect(self, prepared: np.ndarray, measured: Sequence[float]) -> np.ndarray:
        """``[B]`` expected accuracy from :meth:`prepare`'s values, given the
        accuracies measured now (NaN stays NaN).

        The predictor's predictions are shrunk toward the measured mean by
        the proxy noise (:func:`cosearch.policy.reward.shrink_accuracy`);
        a score's standardised value becomes ``m + rho s z``.
        """
        r = self.reward
        if not self.names:
            return shrink_accuracy(prepared, measured, r.acc_noise)
        acc = np.asarray(measured, np.float64)
        if acc.size >= MIN_MEASURED:
            mean = float(acc.mean())
            spread = float(np.sqrt(max(acc.var(ddof=1) - r.acc_noise**2, 0.0)))
        else:
            mean = float(acc.mean()) if acc.size else r.midpoint
            spread = 0.25 * (r.acc_hi - r.acc_lo)
        return mean + self.rho * spread * np.asarray(prepared, np.float64)
