"""The typed records a search is built into: :class:`Setup` and its parts.

:func:`cosearch.search.setup.build` reads a config into these once per run;
after it, every module of the search reads a :class:`Setup`, never the raw
config. The records hold no behaviour, so the setup checks
(:mod:`cosearch.search.reachability`, :mod:`cosearch.search.fixed_design`)
and the strategies can all import them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cosearch.child.train_steps import TrainConfig
from cosearch.data import Dataset
from cosearch.final import FinalSettings
from cosearch.final.reference import ReferenceSet
from cosearch.hardware.design_space import DesignSpace
from cosearch.hardware.devices import Platform
from cosearch.hardware.platform_arrays import PlatformArrays
from cosearch.hardware.specs import Specs
from cosearch.policy.controller import Controller
from cosearch.policy.reinforce import ReinforceConfig
from cosearch.policy.reward import RewardConfig
from cosearch.policy.space import SearchSpace

RUNG_MEASURES = ("accuracy", "loss_sum")


@dataclasses.dataclass(frozen=True)
class Halving:
    """Successive halving inside an episode (:mod:`cosearch.search.halving`).

    Attributes:
      rung_steps: the short budgets of the rungs below the proxy's, in
        optimizer steps, increasing.
      rate: eta: each rung keeps the best 1/eta of the children it trained.
      measure: what ranks a rung's children: "accuracy" (validation
        accuracy at its end) or "loss_sum" (the sum of its training losses,
        lower is better).
    """

    rung_steps: tuple[int, ...]
    rate: int
    measure: str

    def first_rung(self, children: int) -> int:
        """Children the lowest rung trains for ``children`` at the proxy."""
        return children * self.rate ** len(self.rung_steps)

    def steps_per_child(self, proxy_steps: int) -> int:
        """Optimizer steps an episode spends per child it ends with (every
        rung full)."""
        rungs = len(self.rung_steps)
        return proxy_steps + sum(
            self.rate ** (rungs - r) * steps for r, steps in enumerate(self.rung_steps)
        )


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """The budget and pace of a search (``config.search``), checked.

    Attributes:
      episodes: episode limit; None for none (a run then ends on
        ``max_children`` or ``max_wall_s``).
      candidates: proposals sampled and scored by the fast level per
        episode (coexplore, random).
      children_per_episode: most children trained per episode; the
        architecture-only strategies (hw_aware, sequential) sample this many
        and train all of them.
      max_children: trained-children budget; None for none.
      max_train_images: child-training compute budget, in training images
        (optimizer steps times batch size, over every child); None for none.
      max_wall_s: wall-time budget, seconds; None for none.
      max_idle_episodes: the run ends after this many episodes in a row that
        trained no new child (every proposal pruned or already measured).
      checkpoint_every: episodes between checkpoints.
      opt_hw_margin: OptHW's accuracy margin below OptSW (fraction).
      accuracy_signal: what coexplore expects of the survivors it does not
        train: "predictor" or training-free scores joined by "+"
        (:mod:`cosearch.policy.signal`).
      signal_rho: the scores' correlation with accuracy, in [0, 1].
      warm_episodes: first episodes that train no child (coexplore): the
        controller learns from the fast level and the training-free signal.
      halving: successive halving of the survivors before the proxy
        training (coexplore, random, random_screen); None: off.
    """

    episodes: int | None
    candidates: int
    children_per_episode: int
    max_children: int | None
    max_train_images: int | None
    max_wall_s: float | None
    max_idle_episodes: int
    checkpoint_every: int
    opt_hw_margin: float
    accuracy_signal: str
    signal_rho: float
    halving: Halving | None = None
    warm_episodes: int = 0


@dataclasses.dataclass(frozen=True)
class HwAwareSettings:
    """hw_aware's fixed hardware and reward (the config fields its entry of
    :data:`cosearch.search.strategies.STRATEGIES` names), read by that
    strategy only.

    Attributes:
      design: JSON file of the fixed design; "" to derive it from the
        reference network.
      reference: the reference network, ``"k,f,s;..."``; "" for the default
        (:func:`cosearch.search.fixed_design.default_reference`).
      w: the MnasNet soft-constraint exponent of the reward.
    """

    design: str
    reference: str
    w: float


@dataclasses.dataclass(frozen=True)
class ParallelSettings:
    """Where children train (``config.parallel``).

    Attributes:
      devices: local devices per process; 0 for all of them.
    """

    devices: int


@dataclasses.dataclass(frozen=True, eq=False)
class Setup:
    """The immutable pieces of a search.

    Everything a search reads is here, typed and checked.

    Attributes:
      config_json: the config it was built from, as JSON-ready nested dicts
        (the run's config.json and its resume fingerprint; nothing reads
        settings from it).
      seed: root of every random key of the run.
      strategy: a name of :data:`cosearch.search.strategies.STRATEGIES`.
      parrays: the pool as arrays for the cost model.
      design_space: the pool and its per-device grids, prepared for the
        optimizer (platform, bits and BRAM switch are read from it).
      specs: the hardware specs.
      objective: hardware objective of the reward: "throughput" or "energy".
      space: token space of the controller (architecture-only for the
        strategies that fix or defer the hardware).
      full_space: architecture + hardware token space (for records).
      controller: the LSTM policy.
      reinforce_config: REINFORCE hyperparameters.
      reward_config: normalisation bounds of the reward.
      dataset: the child data set.
      train_config: the child-training budget (the proxy).
      final: the final training of the designs a search finds.
      batched_training: train an episode's children together, one program
        per stride pattern (``train.batched``, resolved for this backend).
      input_shape: (height, width, channels) of the children's input.
      search: the budget and pace of the search.
      hw_aware: hw_aware's fixed hardware and reward.
      parallel: where children train.
      reference: the reference set (``final.reference_set``) that places
        each finalized design (its percentile); None without one.
    """

    config_json: dict[str, Any]
    seed: int
    strategy: str
    parrays: PlatformArrays
    design_space: DesignSpace
    specs: Specs
    objective: str
    space: SearchSpace
    full_space: SearchSpace
    controller: Controller
    reinforce_config: ReinforceConfig
    reward_config: RewardConfig
    dataset: Dataset
    train_config: TrainConfig
    final: FinalSettings
    batched_training: bool
    input_shape: tuple[int, int, int]
    search: SearchSettings
    hw_aware: HwAwareSettings
    parallel: ParallelSettings
    reference: ReferenceSet | None = None

    @property
    def platform(self) -> Platform:
        """The FPGA pool."""
        return self.design_space.platform

    @property
    def bits(self) -> int:
        """Word width, 16 or 32."""
        return self.design_space.bits

    @property
    def enforce_bram(self) -> bool:
        """Whether BRAM limits feasibility."""
        return self.design_space.enforce_bram

    def drawn_for(self) -> dict[str, Any]:
        """What a reference set of this search must have been drawn for: the
        space, the platform group (pool, word width, BRAM switch, grid and
        device files: they decide which architectures meet the specs), the
        specs, the data and the input shape."""
        return {
            "space": self.config_json["space"],
            "platform": self.config_json["platform"],
            "specs": self.config_json["specs"],
            "data": self.dataset.name,
            "input_shape": list(self.input_shape),
        }

    def spec_text(self) -> str:
        """The specs in words (``">= 1000 images/s"``; "none")."""
        sp = self.specs
        parts = []
        if sp.min_fps is not None:
            parts.append(f">= {sp.min_fps:g} images/s")
        if sp.max_latency_ms is not None:
            parts.append(f"<= {sp.max_latency_ms:g} ms")
        if sp.min_gops_per_w is not None:
            parts.append(f">= {sp.min_gops_per_w:g} GOPS/W")
        return ", ".join(parts) or "none"
