"""What every strategy's episode shares: its records, sampling, the choice
of children to train and the history records (docs/design.md sections 1, 8).

An episode proposes a batch of children, evaluates them (:class:`Evaluated`)
and returns an :class:`Outcome`: the history records, the actions and
rewards for the controller update and timings, so that the loop in
:mod:`cosearch.search.loop` and the outputs are the same for every
strategy. The children are trained by :mod:`cosearch.search.training`; the
strategies themselves are :mod:`cosearch.search.proposals` (coexplore,
random, random_screen) and :mod:`cosearch.search.architecture_only`
(hw_aware, sequential), named in one table, :mod:`cosearch.search.strategies`.

Budget: ``budget`` (children that may still be trained; None = no limit)
caps the trainings of an episode, so a run with ``max_children = N`` trains
exactly N.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import jax
import numpy as np

from cosearch.child.batched import BatchedTrainer
from cosearch.child.train import Trainer
from cosearch.hardware import cost_model
from cosearch.hardware.architecture import ArchArrays, Architecture
from cosearch.hardware.design import Design, DesignArrays
from cosearch.hardware.specs import meets_limits
from cosearch.policy import controller as controller_lib
from cosearch.policy import masks
from cosearch.policy.signal import Signal
from cosearch.results.records import TIMING_KEY, design_record, figure_fields, host
from cosearch.runtime.parallel import Runtime
from cosearch.search.journal import TrainingJournal
from cosearch.search.settings import Setup

# Folded into the sampling key of uniform proposals: random search draws from
# a stream of its own instead of the controller's.
UNIFORM_STREAM = 0x52414E44


@dataclasses.dataclass
class Outcome:
    """What one episode produced.

    Attributes:
      records: one history record per child, in sample order.
      actions: ``[B, T]`` int32 tokens for the controller update (None: the
        strategy does not update a controller).
      rewards: ``[B]`` float32 rewards (NaN: no reward, e.g. a random
        survivor that was not trained).
      entropy: mean per-sequence entropy of the sampled policy, nats.
      arch_entropy: the part of it on the architecture tokens, nats (how
        spread the proposed architectures are; NaN without a policy).
      fast_s: seconds in the fast level (cost model and optimizer).
      slow_s: seconds training children.
      trained: children trained this episode (cache misses).
      train_images: their training compute: optimizer steps run times the
        batch size, summed.
    """

    records: list[dict[str, Any]]
    actions: np.ndarray | None
    rewards: np.ndarray
    entropy: float
    arch_entropy: float
    fast_s: float
    slow_s: float
    trained: int
    train_images: int = 0


@dataclasses.dataclass
class Context:
    """Mutable state an episode reads and extends.

    Attributes:
      setup: the immutable pieces of the search.
      trainer: compiled child programs, reused across episodes.
      cache: accuracy by architecture string (``{"accuracy", "failed",
        "reason"}``), so a repeated architecture is never retrained.
      fixed_design: the design a strategy fixed before the search (its
        table entry's ``prepare``; None for the others).
      log: progress messages.
      runtime: the devices and processes children are trained on and the
        fast level is sharded over.
      batched: trains an episode's children together (``train.batched``);
        None: one program per architecture (``trainer``).
      signal: the accuracy expected of untrained survivors (coexplore;
        None: made from ``setup`` when first needed).
      journal: the trainings since the last checkpoint, kept and looked up
        by :mod:`cosearch.search.training` (None: none kept).
    """

    setup: Setup
    trainer: Trainer
    cache: dict[str, dict[str, Any]]
    fixed_design: Design | None = None
    log: Callable[[str], None] = print
    runtime: Runtime = dataclasses.field(default_factory=Runtime.single)
    batched: BatchedTrainer | None = None
    signal: Signal | None = None
    journal: TrainingJournal | None = None

    def accuracy_signal(self) -> Signal:
        """:attr:`signal`, made from the setup on first use."""
        if self.signal is None:
            s = self.setup
            self.signal = Signal(
                s.search.accuracy_signal,
                s.search.signal_rho,
                s.full_space,
                s.reward_config,
                s.dataset,
                s.train_config.head,
                s.seed,
            )
        return self.signal


@dataclasses.dataclass(frozen=True)
class Sampled:
    """Proposals drawn for one episode.

    Attributes:
      tokens: ``[B, T]`` int32 tokens.
      entropy: mean per-sequence entropy of the policy, nats (NaN for
        uniform sampling, which has no policy).
      arch_entropy: its part on the architecture tokens, nats.
    """

    tokens: np.ndarray
    entropy: float
    arch_entropy: float


def sample(ctx: Context, params, key, uniform: bool, batch: int) -> Sampled:
    """``batch`` proposals from the controller (``params``), or uniform ones
    from a key stream of their own (``key`` consumed)."""
    s = ctx.setup
    if uniform:
        key = jax.random.fold_in(key, UNIFORM_STREAM)
        tokens = masks.uniform_sample(s.space, key, batch)
        return Sampled(np.asarray(tokens), float("nan"), float("nan"))
    out = controller_lib.sample(s.controller, params, key, batch)
    entropy = np.asarray(out.entropy)  # [B, T]
    arch = entropy[:, : s.space.num_arch_tokens]
    return Sampled(
        np.asarray(out.tokens),
        float(entropy.sum(axis=1).mean()),
        float(arch.sum(axis=1).mean()),
    )


def pick(
    ctx: Context,
    archs: list[Architecture],
    alive: np.ndarray,
    order: Iterable[int],
    limit: int,
) -> list[int]:
    """Indices to train: the first ``limit`` alive proposals in ``order``
    whose architecture is neither cached nor picked already."""
    jobs, names = [], set()
    for i in order:
        name = str(archs[i])
        if len(jobs) == limit:
            break
        if alive[i] and name not in ctx.cache and name not in names:
            jobs.append(int(i))
            names.add(name)
    return sorted(jobs)


def measured_accuracies(cache: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Validation accuracy by architecture of the children that trained."""
    return {n: v["accuracy"] for n, v in cache.items() if not v["failed"]}


@dataclasses.dataclass(frozen=True)
class Evaluated:
    """The proposals of one episode, evaluated; entry ``i`` of every field
    belongs to proposal ``i`` (sample order).

    Attributes:
      archs: the architectures.
      designs: their designs.
      figures: host cost-model figures ``[B]`` of those designs.
      meets: ``[B]`` bool, the design meets the specs.
      status: "trained", "failed", "cached", "survived", "pruned" or
        "skipped".
      accuracy: ``[B]`` validation accuracy, NaN where unknown.
      rewards: ``[B]`` rewards, NaN where none.
      tokens: ``[B, T]`` the tokens recorded (the controller's actions).
      extra: per proposal, the strategy's own record fields.
      train_s: per proposal, seconds spent training it.
      fast_s: each proposal's share of the fast level's seconds.
    """

    archs: list[Architecture]
    designs: list[Design]
    figures: Any
    meets: np.ndarray
    status: list[str]
    accuracy: np.ndarray
    rewards: np.ndarray
    tokens: np.ndarray
    extra: list[dict[str, Any]]
    train_s: list[float]
    fast_s: float


def history_records(
    setup: Setup, batch: Evaluated, episode: int
) -> list[dict[str, Any]]:
    """One history record per proposal of ``batch``."""
    out = []
    for i, arch in enumerate(batch.archs):
        acc, reward = batch.accuracy[i], batch.rewards[i]
        rec = {
            "episode": episode,
            "index": i,
            "strategy": setup.strategy,
            "architecture": str(arch),
            "layers": [list(layer) for layer in arch.layers],
            "tokens": [int(t) for t in batch.tokens[i]],
            "status": batch.status[i],
            "accuracy": None if np.isnan(acc) else float(acc),
            "reward": None if np.isnan(reward) else float(reward),
            "meets_specs": bool(batch.meets[i]),
            **figure_fields(batch.figures, i),
            "design": design_record(batch.designs[i], batch.figures, i, setup.platform),
        }
        rec.update(batch.extra[i])
        rec[TIMING_KEY] = {"train_s": batch.train_s[i], "fast_s": batch.fast_s}
        out.append(rec)
    return out


def outcome(
    setup: Setup,
    batch: Evaluated,
    episode: int,
    sampled: Sampled,
    actions: np.ndarray | None,
    fast_s: float,
    slow_s: float,
    trained: int,
    train_images: int = 0,
) -> Outcome:
    """The :class:`Outcome` of an evaluated episode (the tail every strategy
    shares): its history records, the update's actions and rewards, timings."""
    return Outcome(
        records=history_records(setup, batch, episode),
        actions=actions,
        rewards=batch.rewards,
        entropy=sampled.entropy,
        arch_entropy=sampled.arch_entropy,
        fast_s=fast_s,
        slow_s=slow_s,
        trained=trained,
        train_images=train_images,
    )


def score_designs(setup: Setup, arr: ArchArrays, designs: DesignArrays):
    """Host cost-model figures ``[B]`` of designs on the run's platform."""
    return host(
        cost_model.evaluate(
            arr,
            designs,
            setup.parrays,
            bits=setup.bits,
            enforce_bram=setup.enforce_bram,
        )
    )


def meets_specs(setup: Setup, figures) -> np.ndarray:
    """``[B]`` bool: host figures meet the specs."""
    return meets_limits(
        np.asarray(figures.feasible),
        np.asarray(figures.throughput),
        np.asarray(figures.latency),
        np.asarray(figures.gops_per_w),
        setup.specs.limits(),
    )
