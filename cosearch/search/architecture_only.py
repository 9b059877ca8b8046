"""Episodes whose controller samples architectures only: ``hw_aware`` and
``sequential`` (docs/design.md sections 1, 6).

* ``hw_aware``: the hardware design is fixed in advance
  (:func:`cosearch.search.fixed_design.fixed_design`); every child is
  trained; MnasNet-style soft reward on the fixed design's throughput.
* ``sequential``: accuracy-only NAS (every child trained, reward acc_n),
  each child then given its best hardware.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from cosearch.hardware.architecture import arch_arrays
from cosearch.hardware.design import design_arrays, designs_from_arrays
from cosearch.hardware.optimizer import optimize
from cosearch.policy import reward as reward_lib
from cosearch.results.records import host
from cosearch.search import episode as ep
from cosearch.search import training


def _episode(
    ctx: ep.Context, params, key, episode: int, budget: int | None, hardware, reward
) -> ep.Outcome:
    """An episode of a strategy whose controller samples architectures only.

    Every child is trained, up to ``budget`` new ones (the rest are
    "skipped": no accuracy, no reward). ``hardware(archs, arch_arrays)``
    gives each its design and host figures; ``reward(accuracy, figures)``
    its reward.
    """
    s = ctx.setup
    sample_key, train_key = jax.random.split(key)
    sampled = ep.sample(ctx, params, sample_key, False, s.search.children_per_episode)
    tokens = sampled.tokens
    archs = [a for a, _ in s.space.decode_batch(tokens)]
    t0 = time.perf_counter()
    designs, figures = hardware(archs, arch_arrays(archs, s.input_shape, xp=jnp))
    fast_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    everyone = np.ones(len(archs), bool)
    limit = len(archs) if budget is None else budget
    jobs = ep.pick(ctx, archs, everyone, range(len(archs)), limit)
    done = training.train(ctx, archs, everyone, jobs, train_key)
    status = ["skipped" if st == "survived" else st for st in done.status]
    slow_s = time.perf_counter() - t0
    acc = done.accuracy
    rewards = np.where(
        np.isnan(acc), np.nan, reward(np.nan_to_num(acc), figures)
    ).astype(np.float32)
    batch = ep.Evaluated(
        archs=archs,
        designs=designs,
        figures=figures,
        meets=ep.meets_specs(s, figures),
        status=status,
        accuracy=acc,
        rewards=rewards,
        tokens=tokens,
        extra=[{"pruned_reason": None} for _ in archs],
        train_s=done.train_s,
        fast_s=fast_s / len(archs),
    )
    return ep.outcome(
        s,
        batch,
        episode,
        sampled,
        actions=tokens,
        fast_s=fast_s,
        slow_s=slow_s,
        trained=done.count,
        train_images=done.train_images,
    )


def hw_aware(
    ctx: ep.Context, params, key, episode: int, budget: int | None
) -> ep.Outcome:
    """One episode of hardware-aware NAS on the fixed design, soft reward."""
    s = ctx.setup

    def hardware(archs, arr):
        designs = [ctx.fixed_design] * len(archs)
        des = design_arrays(designs, s.space.arch.depth, s.platform.size, xp=jnp)
        return designs, ep.score_designs(s, arr, des)

    def reward(acc, figures):
        return reward_lib.soft_constraint_reward(
            acc,
            np.asarray(figures.throughput, np.float64),
            s.specs.min_fps or 0.0,
            s.hw_aware.w,
        )

    return _episode(ctx, params, key, episode, budget, hardware, reward)


def sequential(
    ctx: ep.Context, params, key, episode: int, budget: int | None
) -> ep.Outcome:
    """One episode of accuracy-only NAS; each child then gets its best hardware."""
    s = ctx.setup

    def hardware(archs, arr):
        opt = optimize(
            arr, s.design_space, s.objective, s.specs, devices=ctx.runtime.fast_devices
        )
        return designs_from_arrays(host(opt.design)), ep.score_designs(
            s, arr, opt.design
        )

    def reward(acc, figures):
        del figures  # accuracy only
        return reward_lib.accuracy_reward(acc, s.reward_config)

    return _episode(ctx, params, key, episode, budget, hardware, reward)
