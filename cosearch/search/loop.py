"""The search loop: episodes until a budget stops them, the workdir lock and
progress lines.

``run(config, workdir)`` drives the configured strategy (see
:mod:`cosearch.search.strategies`) episode by episode (docs/design.md section 1) and
keeps the run's outputs in ``workdir`` (section 8): config.json,
metrics.jsonl, history.jsonl, pareto.json, best_designs.json, report.md,
pareto.png and orbax checkpoints under checkpoints/. The run's state, its
checkpoints, resume and outputs are :mod:`cosearch.search.run_state`'s; its
episode step and budgets :mod:`cosearch.search.stepping`'s.

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
import os
import time
from collections.abc import Callable
from typing import Any

from absl import logging

from cosearch.errors import InputError
from cosearch.results import report as report_lib
from cosearch.runtime import coordination, interrupts, parallel
from cosearch.search.config_checks import SearchConfigError
from cosearch.search.reachability import check_specs_reachable
from cosearch.search.run_state import clear_outputs
from cosearch.search.settings import ParallelSettings, Setup
from cosearch.search.setup import build, parallel_settings
from cosearch.search.stepping import SearchRun, shared_trainer
from cosearch.search.strategies import prepare
from cosearch.search.workdir import WorkdirLock, check_workdir


def _format_s(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{(seconds % 3600) // 60:02.0f}m"


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
    run_ = SearchRun(setup, workdir, log, runtime, fixed)
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


def _eta(run_: SearchRun, since: float, first_episode: int, first_children: int) -> str:
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


def _progress_line(run_: SearchRun, line: dict[str, Any], eta: str) -> str:
    s = run_.setup.search
    episodes = f"/{s.episodes}" if s.episodes is not None else ""
    children = f"/{s.max_children}" if s.max_children is not None else ""
    if s.max_train_images is not None:
        children += f" ({run_.train_images:,}/{s.max_train_images:,} training images)"
    best = line["best_accuracy_at_spec"]
    reward = line["reward_mean"]
    warm = " (warm-up: signal only)" if line["warm_up"] else ""
    return (
        f"episode {run_.episode}{episodes}{warm}: pruned {line['pruned']}/"
        f"{line['proposals']} trained {line['trained']} cached {line['cached']} "
        f"failed {line['failed']} | children {run_.children_trained}{children} | "
        f"reward {'-' if reward is None else f'{reward:+.3f}'} | best proxy at spec "
        + ("-" if best is None else f"{100 * best:.2f}%")
        + f" | fast {line['fast_s']:.2f}s slow {line['slow_s']:.1f}s | ETA {eta}"
    )


def _loop(run_: SearchRun, workdir: str, log) -> report_lib.Summary | None:
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
