"""One search run's episode step and budgets (docs/design.md section 1.5).

:class:`SearchRun` is a run's state (:class:`cosearch.search.run_state.RunState`:
checkpoints, resume, outputs) with what an episode does to it: the budgets
that stop a run (episodes, children, training images, wall time, idle
episodes), one episode of the configured strategy and its controller
update, and the metrics line it appends. :mod:`cosearch.search.loop` drives
it; the child trainers here are shared by every run of a process.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from cosearch.child.batched import BatchedTrainer
from cosearch.child.train import Trainer
from cosearch.hardware.architecture import Architecture
from cosearch.policy import reinforce
from cosearch.runtime import parallel
from cosearch.search.episode import Context
from cosearch.search.run_state import RunState
from cosearch.search.settings import Setup
from cosearch.search.strategies import (
    HALVING_FIELDS,
    STRATEGIES,
    WARM_FIELD,
    run_episode,
)


@functools.lru_cache(maxsize=1)
def shared_trainer() -> Trainer:
    """One child trainer per process: its compiled programs depend only on
    (architecture, shapes, training config), so runs in a process share them."""
    return Trainer()


def shared_batched_trainer(setup: Setup) -> BatchedTrainer:
    """The batched trainer of ``setup``'s space (its largest kernel and channel
    count), one per process and space like :func:`shared_trainer`."""
    arch = setup.space.arch
    return _batched_trainer(max(arch.kernels), max(arch.filters))


@functools.cache
def _batched_trainer(max_kernel: int, max_filters: int) -> BatchedTrainer:
    return BatchedTrainer(max_kernel, max_filters)


class SearchRun(RunState):
    """A search's state (:class:`cosearch.search.run_state.RunState`) with its
    episode step and budgets."""

    def __init__(
        self,
        setup: Setup,
        workdir: str,
        log: Callable[[str], None],
        runtime: parallel.Runtime,
        fixed=None,
    ):
        ctx = Context(
            setup,
            shared_trainer(),
            {},
            fixed_design=fixed,
            log=log,
            runtime=runtime,
            batched=shared_batched_trainer(setup) if setup.batched_training else None,
        )
        super().__init__(setup, workdir, log, runtime, ctx)

    def budget_left(self, started: float) -> str | None:
        """Why the run must stop now, or None."""
        s = self.setup.search
        if s.episodes is not None and self.episode >= s.episodes:
            return f"{s.episodes} episodes done"
        if s.max_children is not None and self.children_trained >= s.max_children:
            return f"{self.children_trained} children trained"
        if s.max_train_images is not None and (
            s.max_train_images - self.train_images < self.images_per_child
        ):
            return (
                f"{self.train_images:,} of {s.max_train_images:,} training images "
                f"spent (a child takes {self.images_per_child:,})"
            )
        wall = self.elapsed_s + time.perf_counter() - started
        if s.max_wall_s is not None and wall >= s.max_wall_s:
            return f"wall-time budget of {s.max_wall_s:g}s spent"
        if self.idle_episodes >= s.max_idle_episodes:
            return (
                f"no new child in the last {self.idle_episodes} episodes (every "
                "proposal pruned or measured before)"
            )
        return None

    @property
    def images_per_child(self) -> int:
        """Training images an episode spends per child it trains at the proxy
        budget (steps x batch; with successive halving, its rungs' too)."""
        s = self.setup
        train = s.train_config
        images = len(s.dataset.train)
        if train.train_examples is not None:
            images = min(images, train.train_examples)
        steps = train.total_steps(images)
        halving = s.search.halving
        reads = STRATEGIES[s.strategy].config_fields
        if halving is not None and set(HALVING_FIELDS) <= set(reads):
            steps = halving.steps_per_child(steps)
        return steps * train.batch_size

    def children_left(self) -> int | None:
        """Children the budgets still allow (None: no children or compute
        budget)."""
        s = self.setup.search
        left = []
        if s.max_children is not None:
            left.append(max(s.max_children - self.children_trained, 0))
        if s.max_train_images is not None:
            spare = max(s.max_train_images - self.train_images, 0)
            left.append(spare // self.images_per_child)
        return min(left) if left else None

    @property
    def warming_up(self) -> bool:
        """The next episode is a warm-up one (``search.warm_episodes``, read
        by the strategies that name it): it trains no child."""
        s = self.setup
        return (
            WARM_FIELD in STRATEGIES[s.strategy].config_fields
            and self.episode < s.search.warm_episodes
        )

    def step(self, started: float) -> dict[str, Any]:
        """Run one episode; append its records; returns its metrics line."""
        e = self.episode
        t0 = time.perf_counter()
        key = jax.random.fold_in(self.loop_key, e)
        warm = self.warming_up
        budget = 0 if warm else self.children_left()
        out = run_episode(self.ctx, self.state.params, key, e, budget)
        t1 = time.perf_counter()
        update = {}
        if out.actions is not None and np.isfinite(out.rewards).any():
            self.state, m = reinforce.update(self.state, out.actions, out.rewards)
            update = {k: float(v) for k, v in jax.device_get(m).items()}
        update_s = time.perf_counter() - t1
        statuses = [r["status"] for r in out.records]
        self.children_trained += out.trained
        self.train_images += out.train_images
        self.idle_episodes = 0 if out.trained or warm else self.idle_episodes + 1
        accs = [r["accuracy"] for r in out.records if r["accuracy"] is not None]
        at_spec = [
            r["accuracy"]
            for r in out.records
            if r["accuracy"] is not None
            and r["meets_specs"]
            and r["status"] in ("trained", "cached")
        ]
        if at_spec and (self.best_at_spec is None or max(at_spec) > self.best_at_spec):
            self.best_at_spec = max(at_spec)
        rewards = out.rewards[np.isfinite(out.rewards)]
        names = [r["architecture"] for r in out.records]
        proposed_macs = [
            Architecture.parse(n).macs(self.setup.input_shape) for n in names
        ]
        line = {
            "episode": e,
            "warm_up": warm,
            "proposals": len(statuses),
            "pruned_share": statuses.count("pruned") / len(statuses),
            "reward_mean": float(np.mean(rewards)) if rewards.size else None,
            "reward_max": float(np.max(rewards)) if rewards.size else None,
            "baseline": update.get("baseline"),
            "loss": update.get("loss"),
            "entropy": out.entropy,
            "arch_entropy": out.arch_entropy,
            "distinct_architectures": len(set(names)),
            "median_mmacs": float(np.median(proposed_macs)) / 1e6,
            "pruned": statuses.count("pruned"),
            "survived": statuses.count("survived"),
            "trained": statuses.count("trained"),
            "cached": statuses.count("cached"),
            "failed": statuses.count("failed"),
            "skipped": statuses.count("skipped"),
            "best_accuracy": max(accs) if accs else None,
            "best_accuracy_at_spec": self.best_at_spec,
            "children_trained_total": self.children_trained,
            "train_images": out.train_images,
            "train_images_total": self.train_images,
            "fast_s": out.fast_s,
            "slow_s": out.slow_s,
            "update_s": update_s,
            "wall_s": time.perf_counter() - t0,
            "elapsed_s": self.elapsed_s + time.perf_counter() - started,
        }
        if self.writer:
            self.history.append(out.records)
            self.metrics.append([line])
        self.episode = e + 1
        self.settled_cache = dict(self.ctx.cache)
        return line
