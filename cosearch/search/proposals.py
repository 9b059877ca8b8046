"""Episodes that propose architecture + hardware pairs and prune them with
the fast level: ``coexplore`` and ``random`` (docs/design.md sections 1, 5).

* ``coexplore``: the controller samples ``candidates_per_episode``
  architecture + hardware proposals; fast exploration refines the hardware
  and prunes against the specs; of the survivors, the
  ``children_per_episode`` of highest expected reward are trained (the
  accuracy expected of a survivor is ``search.accuracy_signal``'s,
  :mod:`cosearch.policy.signal`: the predictor fitted on the children
  measured so far, or training-free scores); every proposal is rewarded
  (alpha acc_n + (1 - alpha) eff_n with the measured accuracy where there
  is one and the expected accuracy otherwise, -1 if pruned) and the
  controller learns from all of them; the refined designs are the actions.
* ``random``: uniform sampling of ``candidates_per_episode`` architecture +
  hardware proposals (a key stream of its own, so it never shares
  coexplore's proposals), the same fast-exploration pruning, and the first
  ``children_per_episode`` survivors in sampling order trained; no
  controller update.
* ``random_screen``: random's proposals and pruning, the survivors of
  highest expected reward trained (the same accuracy signal and reward as
  coexplore); no controller update.

Each may first screen its survivors by successive halving
(``search.rung_steps``, :mod:`cosearch.search.halving`).
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cosearch.hardware.design import designs_from_arrays
from cosearch.hardware.specs import objective_score, prune_reason_name
from cosearch.policy import reward as reward_lib
from cosearch.results.records import host
from cosearch.search import episode as ep
from cosearch.search import halving as halving_lib
from cosearch.search import training
from cosearch.search.explore import fast_explore


def _explored(ctx: ep.Context, tokens: np.ndarray):
    """Fast exploration of full-space tokens: (archs, host result, seconds)."""
    s = ctx.setup
    t0 = time.perf_counter()
    arch_arr, sampled = s.full_space.to_arrays(tokens, s.input_shape)
    res = fast_explore(
        jax.tree.map(jnp.asarray, arch_arr),
        jax.tree.map(jnp.asarray, sampled),
        s.design_space,
        s.specs,
        s.objective,
        devices=ctx.runtime.fast_devices,
    )
    res = host(res)
    archs = [a for a, _ in s.full_space.decode_batch(tokens)]
    return archs, res, time.perf_counter() - t0


def _explore_extra(res, i: int) -> dict[str, Any]:
    sampled = res.sampled_figures
    return {
        "pruned_reason": (
            prune_reason_name(int(res.prune_reason[i])) if res.pruned[i] else None
        ),
        "best_reachable": {
            "throughput_fps": float(res.best_fps[i]),
            "latency_ms": 1e3 * float(res.best_latency[i]),
        },
        "sampled_design": {
            "throughput_fps": float(sampled.throughput[i]),
            "gops_per_w": float(sampled.gops_per_w[i]),
            "feasible": bool(sampled.feasible[i]),
            "kept": bool(res.kept_sampled[i]),
        },
    }


def _episode(
    ctx: ep.Context,
    params,
    key,
    episode: int,
    uniform: bool,
    budget: int | None,
    screened: bool = False,
) -> ep.Outcome:
    """One episode of ``coexplore`` (``uniform=False``), ``random``
    (``uniform``) or ``random_screen`` (``uniform`` and ``screened``: the
    survivors ranked by the accuracy signal, as coexplore ranks them)."""
    s = ctx.setup
    sample_key, train_key = jax.random.split(key)
    sampled = ep.sample(ctx, params, sample_key, uniform, s.search.candidates)
    tokens = sampled.tokens
    archs, res, fast_s = _explored(ctx, tokens)
    designs = designs_from_arrays(res.refined)
    pruned = np.asarray(res.pruned)
    # The reward's efficiency term: the objective's figure (both reward
    # objectives, throughput and energy, are larger-is-better).
    efficiency = np.asarray(objective_score(res.figures, s.objective), np.float64)
    cfg = s.reward_config
    # The signal's values for the survivors (NaN for the pruned and for
    # random search), turned into expected accuracies by what is measured.
    prepared = np.full(len(archs), np.nan)
    signal = ctx.accuracy_signal() if screened or not uniform else None
    if signal is None:
        order = np.arange(len(archs))
    else:
        measured = ep.measured_accuracies(ctx.cache)
        alive = np.flatnonzero(~pruned)
        if alive.size:
            prepared[alive] = signal.prepare(
                [archs[i] for i in alive], measured, s.input_shape
            )
        expected = signal.expect(prepared, list(measured.values()))
        score = reward_lib.coexplore_reward(expected, efficiency, pruned, cfg)
        order = np.argsort(-score, kind="stable")  # ties keep sampling order
    limit = s.search.children_per_episode
    if budget is not None:
        limit = min(limit, budget)
    t0 = time.perf_counter()
    halving = s.search.halving
    rungs, rung_images = {}, 0
    if halving is None:
        jobs = ep.pick(ctx, archs, ~pruned, order, limit)
    else:
        candidates = ep.pick(ctx, archs, ~pruned, order, halving.first_rung(limit))
        jobs, rungs, rung_images = halving_lib.run_rungs(
            ctx, archs, candidates, limit, train_key, halving
        )
    done = training.train(ctx, archs, ~pruned, jobs, train_key)
    slow_s = time.perf_counter() - t0
    # Measured accuracy where there is one, differences below the proxy's
    # noise counted as ties, else the signal's expectation (coexplore).
    measured_now = list(ep.measured_accuracies(ctx.cache).values())
    known = reward_lib.shrink_accuracy(done.accuracy, measured_now, cfg.acc_noise)
    if signal is not None:
        known = np.where(
            np.isnan(done.accuracy), signal.expect(prepared, measured_now), known
        )
    failed = np.array([st == "failed" for st in done.status])
    known = np.where(failed, 0.0, known)  # a failed child keeps the worst reward
    rewards = reward_lib.coexplore_reward(known, efficiency, pruned, cfg).astype(
        np.float32
    )
    # The refined design replaces the sampled hardware tokens as the action.
    actions = tokens.copy()
    for i in np.flatnonzero(~pruned):
        actions[i] = s.full_space.encode(archs[i], designs[i])
    extra = [_explore_extra(res, i) for i in range(len(archs))]
    for i, trained_at in rungs.items():
        extra[i]["rungs"] = trained_at
    if signal is not None and signal.names:
        # The expectation that ranked the survivors, and their scores.
        predicted = signal.expect(prepared, list(measured.values()))
        values = signal.scores([archs[i] for i in alive]) if alive.size else {}
        for j, i in enumerate(alive):
            extra[i]["training_free"] = {n: float(v[j]) for n, v in values.items()}
    else:
        predicted = prepared  # the predictor's own prediction
    for i, e in enumerate(extra):
        e["predicted_accuracy"] = (
            None if np.isnan(predicted[i]) or pruned[i] else float(predicted[i])
        )
    batch = ep.Evaluated(
        archs=archs,
        designs=designs,
        figures=res.figures,
        meets=res.meets_specs,
        status=done.status,
        accuracy=done.accuracy,
        rewards=rewards,
        tokens=actions,
        extra=extra,
        train_s=done.train_s,
        fast_s=fast_s / len(archs),
    )
    return ep.outcome(
        s,
        batch,
        episode,
        sampled,
        actions=None if uniform else actions,
        fast_s=fast_s,
        slow_s=slow_s,
        trained=done.count,
        train_images=done.train_images + rung_images,
    )


def coexplore(
    ctx: ep.Context, params, key, episode: int, budget: int | None
) -> ep.Outcome:
    """One episode of co-exploration (``key`` consumed)."""
    return _episode(ctx, params, key, episode, False, budget)


def random_search(
    ctx: ep.Context, params, key, episode: int, budget: int | None
) -> ep.Outcome:
    """One episode of random search with the same pruning (``params`` unused)."""
    return _episode(ctx, params, key, episode, True, budget)


def random_screened(
    ctx: ep.Context, params, key, episode: int, budget: int | None
) -> ep.Outcome:
    """One episode of random search whose survivors are ranked by the
    accuracy signal before training (what coexplore's controller adds beyond
    the signal is the difference to coexplore; ``params`` unused)."""
    return _episode(ctx, params, key, episode, True, budget, screened=True)
