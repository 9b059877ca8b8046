"""The search loop: episodes, budgets, the workdir lock and progress lines.

``run(config, workdir)`` drives the configured strategy (see
:mod:`cosearch.search.strategies`) episode by episode (docs/design.md section 1) and
keeps the run's outputs in ``workdir`` (section 8): config.json,
metrics.jsonl, history.jsonl, pareto.json, best_designs.json, report.md,
pareto.png and orbax checkpoints under checkpoints/. The run's state, its
checkpoints, resume and outputs are :mod:`cosearch.search.run_state`'s.

Determinism: one root key from the seed; episode ``e`` uses
``fold_in(root, e)``. A checkpoint holds the controller state, the accuracy
cache and the byte positions of the logs, so a resumed run cuts the logs
back to the checkpoint and continues with exactly the records an
uninterrupted run writes (timings aside).

Devices and processes (:mod:`cosearch.runtime.parallel`): the children of an
episode are trained over every local device (``config.parallel.devices``)
and, in a multi-process run, over every process; results are gathered in
episode order, every process applies the same controller update, and only
process 0 touches ``workdir`` (it also hands its restored checkpoint to the
others), so the history is the same whatever the device or process count.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from absl import logging

from cosearch.child.batched import BatchedTrainer
from cosearch.child.train import Trainer
from cosearch.errors import InputError
from cosearch.hardware.architecture import Architecture
from cosearch.policy import reinforce
from cosearch.results import report as report_lib
from cosearch.runtime import coordination, interrupts, parallel
from cosearch.search.config_checks import SearchConfigError
from cosearch.search.episode import Context
from cosearch.search.reachability import check_specs_reachable
from cosearch.search.run_state import RunState, clear_outputs
from cosearch.search.settings import ParallelSettings, Setup
from cosearch.search.setup import build, parallel_settings
from cosearch.search.strategies import (
    HALVING_FIELDS,
    STRATEGIES,
    prepare,
    run_episode,
)
from cosearch.search.workdir import WorkdirLock, check_workdir


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


def _format_s(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{(seconds % 3600) // 60:02.0f}m"


class _Run(RunState):
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

    def step(self, started: float) -> dict[str, Any]:
        """Run one episode; append its records; returns its metrics line."""
        e = self.episode
        t0 = time.perf_counter()
        key = jax.random.fold_in(self.loop_key, e)
        out = run_episode(self.ctx, self.state.params, key, e, self.children_left())
        t1 = time.perf_counter()
        update = {}
        if out.actions is not None and np.isfinite(out.rewards).any():
            self.state, m = reinforce.update(self.state, out.actions, out.rewards)
            update = {k: float(v) for k, v in jax.device_get(m).items()}
        update_s = time.perf_counter() - t1
        statuses = [r["status"] for r in out.records]
        self.children_trained += out.trained
        self.train_images += out.train_images
        self.idle_episodes = 0 if out.trained else self.idle_episodes + 1
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


def _runtime(settings: ParallelSettings) -> parallel.Runtime:
    try:
        return parallel.Runtime.create(settings.devices)
    except InputError as e:
        raise SearchConfigError(str(e)) from None


@contextlib.contextmanager
def _telling_others(runtime: parallel.Runtime):
    """An error raised inside is posted for the run's other processes (if
    any) before it propagates, so that they stop too."""
    try:
        yield
    except coordination.DistributedError:
        raise
    except BaseException as e:
        text = str(e).strip().splitlines()
        runtime.abort(text[0] if text else type(e).__name__)
        raise


def run(
    config,
    workdir: str,
    *,
    fresh: bool = False,
    log: Callable[[str], None] = logging.info,
) -> report_lib.Summary | None:
    """Build a search from ``config`` and run (or resume) it in ``workdir``;
    returns what it found (:func:`run_setup`).

    ``config.parallel`` is read first, to make the runtime that tells the
    other processes of a multi-process run about a failed build; the rest
    of the config is read once, by :func:`cosearch.search.setup.build`.

    Args:
      config: an ml_collections config (experiments/configs/default.py).
      workdir, fresh, log: as :func:`run_setup`'s.
    """
    settings = parallel_settings(config)
    runtime = _runtime(settings)
    with _telling_others(runtime):
        setup = build(config, settings)
    return run_setup(setup, workdir, fresh=fresh, log=log, runtime=runtime)


def run_setup(
    setup: Setup,
    workdir: str,
    *,
    fresh: bool = False,
    log: Callable[[str], None] = logging.info,
    runtime: parallel.Runtime | None = None,
) -> report_lib.Summary | None:
    """Run (or resume) the search ``setup`` describes in ``workdir``;
    returns what it found.

    In a multi-process run (:func:`cosearch.runtime.coordination.initialize`
    called first) every process calls this with the same arguments; process
    0 writes ``workdir`` and returns the summary, the others return None.

    Args:
      setup: the built search (:func:`cosearch.search.setup.build`).
      workdir: output folder; a run found there is resumed.
      fresh: discard a previous run in ``workdir`` and start over.
      log: progress messages (one line per episode, with an ETA; process 0).
      runtime: the devices and processes (None: made from
        ``setup.parallel``).

    Raises:
      SearchConfigError: an unreachable spec, a fixed design that cannot
        run the space or an unwritable workdir (before anything is trained).
      CheckpointError: a corrupt or incompatible checkpoint in ``workdir``.
      DistributedError: a process of a multi-process run was lost (the
        checkpoints written before are intact).
    """
    workdir = os.path.abspath(workdir)
    runtime = runtime or _runtime(setup.parallel)
    with _telling_others(runtime):
        # Everything is checked before the workdir is touched.
        check_specs_reachable(setup)
        fixed = prepare(setup)
        if not runtime.writer:
            return _run_locked(setup, fixed, workdir, False, _silent, runtime)
        check_workdir(workdir)
        with WorkdirLock(workdir):
            return _run_locked(setup, fixed, workdir, fresh, log, runtime)


def _run_locked(setup, fixed, workdir, fresh, log, runtime):
    if fresh and runtime.writer:
        clear_outputs(workdir)
    run_ = _Run(setup, workdir, log, runtime, fixed)
    try:
        return _loop(run_, workdir, log)
    except coordination.DistributedError as e:
        whose = "the" if run_.writer else "process 0's"
        saved = (
            f"{whose} checkpoint after episode {run_.saved_episode} in {workdir} "
            "is intact"
            if run_.saved_episode > 0
            else "no episode was checkpointed yet"
        )
        raise coordination.DistributedError(
            f"{e}; the run stops ({saved}): start every process again with the "
            "same command to resume"
        ) from None
    finally:
        run_.close()


def _silent(_: str) -> None:
    pass


def _eta(run_: _Run, since: float, first_episode: int, first_children: int) -> str:
    """Time left, from this session's pace per episode and per trained child
    (the smallest over the budgets set; "?" before there is a pace)."""
    s = run_.setup.search
    spent = time.perf_counter() - since
    left = []
    episodes = run_.episode - first_episode
    if s.episodes is not None and episodes:
        left.append(spent / episodes * (s.episodes - run_.episode))
    children = run_.children_trained - first_children
    if s.max_children is not None and children:
        left.append(spent / children * (s.max_children - run_.children_trained))
    if s.max_train_images is not None and children:
        # The compute budget buys whole children, at this session's pace.
        more = (s.max_train_images - run_.train_images) // run_.images_per_child
        left.append(spent / children * max(more, 0))
    if s.max_wall_s is not None:
        left.append(s.max_wall_s - run_.elapsed_s - spent)
    return _format_s(min(left)) if left else "?"


def _progress_line(run_: _Run, line: dict[str, Any], eta: str) -> str:
    s = run_.setup.search
    episodes = f"/{s.episodes}" if s.episodes is not None else ""
    children = f"/{s.max_children}" if s.max_children is not None else ""
    if s.max_train_images is not None:
        children += f" ({run_.train_images:,}/{s.max_train_images:,} training images)"
    best = line["best_accuracy_at_spec"]
    reward = line["reward_mean"]
    return (
        f"episode {run_.episode}{episodes}: pruned {line['pruned']}/"
        f"{line['proposals']} trained {line['trained']} cached {line['cached']} "
        f"failed {line['failed']} | children {run_.children_trained}{children} | "
        f"reward {'-' if reward is None else f'{reward:+.3f}'} | best proxy at spec "
        + ("-" if best is None else f"{100 * best:.2f}%")
        + f" | fast {line['fast_s']:.2f}s slow {line['slow_s']:.1f}s | ETA {eta}"
    )


def _loop(run_: _Run, workdir: str, log) -> report_lib.Summary | None:
    resumed = run_.resume()
    run_.write_config()
    if resumed:
        log(
            f"resuming {workdir} after episode {run_.episode} "
            f"({run_.children_trained} children trained)"
        )
    rt = run_.runtime
    if rt.process_count > 1 or len(rt.devices) > 1:
        log(
            f"training children on {len(rt.devices)} device(s) per process "
            f"({rt.devices[0].platform}) x {rt.process_count} process(es)"
        )
    started = session_start = time.perf_counter()
    session_episode, session_children = run_.episode, run_.children_trained
    every = run_.setup.search.checkpoint_every
    first = True
    # Ctrl-C ends the run at once, or at the latest after this episode.
    with interrupts.remembered():
        try:
            # Process 0 decides when to stop (clocks differ between processes).
            while (why := run_.runtime.agree(run_.budget_left(started))) is None:
                if first:
                    log(
                        f"episode {run_.episode + 1}: compiling the controller, cost "
                        "model, optimizer and children (the first episode is slower)"
                    )
                line = run_.step(started)
                first = False
                eta = _eta(run_, session_start, session_episode, session_children)
                log(_progress_line(run_, line, eta))
                if run_.episode % every == 0:
                    run_.elapsed_s += time.perf_counter() - started
                    started = time.perf_counter()
                    run_.save()
                interrupts.check()  # a Ctrl-C that library code swallowed
        except KeyboardInterrupt:
            run_.elapsed_s += time.perf_counter() - started
            if run_.saved_episode != run_.episode:
                run_.save(mid_episode=True)
            run_.write_outputs()
            log(
                f"interrupted: saved after episode {run_.episode}; run the same "
                "command again to resume"
            )
            raise
    run_.elapsed_s += time.perf_counter() - started
    if run_.saved_episode != run_.episode:
        run_.save()
    summary = run_.write_outputs()
    run_.runtime.finish()
    log(f"search done ({why}); results in {workdir}")
    # The final phase: train the designs found again, score them on the test
    # split; an interruption keeps every finished training (run again to go on).
    final = run_.finalize(shared_trainer(), log)
    if final is not None:
        log(f"final training done; results in {workdir}")
        summary = final
    return summary
