"""One episode of each search strategy (docs/design.md sections 1, 5, 6).

Every strategy proposes a batch of children, evaluates them and returns the
same things (history records, the actions and rewards for the controller
update, timings), so that the loop in :mod:`cosearch.search` and the outputs
are shared:

* ``coexplore``: the controller samples ``candidates_per_episode``
  architecture + hardware proposals; fast exploration refines the hardware
  and prunes against the specs; of the survivors, the
  ``children_per_episode`` of highest predicted reward (accuracy predicted
  by :mod:`cosearch.predictor` from the children measured so far) are
  trained; every proposal is rewarded (alpha acc_n + (1 - alpha) eff_n with
  the measured accuracy where there is one and the predicted accuracy
  otherwise, -1 if pruned) and the controller learns from all of them; the
  refined designs are the actions.
* ``hw_aware``: the hardware design is fixed in advance; the controller
  samples architectures only; every child is trained; MnasNet-style soft
  reward on the fixed design's throughput.
* ``sequential``: accuracy-only NAS (architectures only, every child
  trained, reward acc_n), each child then given its best hardware.
* ``random``: uniform sampling of ``candidates_per_episode`` architecture +
  hardware proposals (a key stream of its own, so it never shares
  coexplore's proposals), the same fast-exploration pruning, and the first
  ``children_per_episode`` survivors in sampling order trained; no
  controller update.

Budget: ``budget`` (children that may still be trained; None = no limit)
caps the trainings of an episode, so a run with ``max_children = N`` trains
exactly N.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cosearch import child_batches
from cosearch import controller as controller_lib
from cosearch import predictor as predictor_lib
from cosearch import reward as reward_lib
from cosearch import space as space_lib
from cosearch.batched import BatchedTrainer
from cosearch.config_checks import SearchConfigError
from cosearch.explore import fast_explore
from cosearch.hardware import cost_model
from cosearch.hardware.architecture import Architecture, arch_arrays
from cosearch.hardware.design import (
    Design,
    DesignArrays,
    design_arrays,
    designs_from_arrays,
)
from cosearch.hardware.optimizer import optimize
from cosearch.hardware.specs import meets_limits, objective_score, prune_reason_name
from cosearch.parallel import Runtime
from cosearch.reachability import can_meet_specs
from cosearch.records import (
    TIMING_KEY,
    design_from_record,
    design_record,
    figure_fields,
    host,
)
from cosearch.search_setup import Setup
from cosearch.train import Trainer


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
    """

    records: list[dict[str, Any]]
    actions: np.ndarray | None
    rewards: np.ndarray
    entropy: float
    arch_entropy: float
    fast_s: float
    slow_s: float
    trained: int


@dataclasses.dataclass
class Context:
    """Mutable state an episode reads and extends.

    Attributes:
      setup: the immutable pieces of the search.
      trainer: compiled child programs, reused across episodes.
      cache: accuracy by architecture string (``{"accuracy", "failed",
        "reason"}``), so a repeated architecture is never retrained.
      fixed_design: the hw_aware design (None for other strategies).
      log: progress messages.
      runtime: the devices and processes children are trained on and the
        fast level is sharded over.
      batched: trains an episode's children together (``train.batched``);
        None: one program per architecture (``trainer``).
    """

    setup: Setup
    trainer: Trainer
    cache: dict[str, dict[str, Any]]
    fixed_design: Design | None = None
    log: Callable[[str], None] = print
    runtime: Runtime = dataclasses.field(default_factory=Runtime.single)
    batched: BatchedTrainer | None = None


# Folded into the sampling key of uniform proposals: random search draws from
# a stream of its own instead of the controller's.
UNIFORM_STREAM = 0x52414E44


def _sample(ctx: Context, params, key, uniform: bool, batch: int):
    """Sampled tokens ``[B, T]``, the mean sequence entropy and its part on
    the architecture tokens (nats; NaN for uniform sampling, which has no
    policy)."""
    s = ctx.setup
    if uniform:
        key = jax.random.fold_in(key, UNIFORM_STREAM)
        tokens = space_lib.uniform_sample(s.space, key, batch)
        return np.asarray(tokens), float("nan"), float("nan")
    out = controller_lib.sample(s.controller, params, key, batch)
    entropy = np.asarray(out.entropy)  # [B, T]
    arch = entropy[:, : s.space.num_arch_tokens]
    return (
        np.asarray(out.tokens),
        float(entropy.sum(axis=1).mean()),
        float(arch.sum(axis=1).mean()),
    )


def _pick(ctx: Context, archs, alive: np.ndarray, order, limit: int) -> list[int]:
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


def _train(ctx: Context, archs: list[Architecture], alive: np.ndarray, jobs, key):
    """Trains ``jobs`` and looks up the other alive proposals in the cache.

    Child ``i`` is trained with key ``fold_in(key, i)``, over every device
    and process of ``ctx.runtime``; its accuracy goes into the cache.

    Returns:
      (accuracy ``[B]`` float64, NaN where unknown; statuses: "trained",
      "failed", "cached" (alive, measured before), "survived" (alive, not
      trained), "pruned" (not alive); per-child train seconds; number
      trained).
    """
    s = ctx.setup
    acc = np.full(len(archs), np.nan)
    status = ["pruned"] * len(archs)
    secs = [0.0] * len(archs)

    def record(res) -> dict[str, Any]:
        return {
            "accuracy": 0.0 if res.failed else float(res.val_accuracy),
            "failed": bool(res.failed),
            "reason": res.reason,
            "wall_s": res.wall_s,
        }

    def train_one(i: int, device) -> dict[str, Any]:
        return record(
            ctx.trainer.train(
                archs[i], s.dataset, s.train_config, jax.random.fold_in(key, i), device
            )
        )

    def train_together(chunk: tuple[int, ...], devices) -> dict[str, Any]:
        results = ctx.batched.train(
            [archs[i] for i in chunk],
            s.dataset,
            s.train_config,
            [jax.random.fold_in(key, i) for i in chunk],
            devices,
        )
        # wall_s: each child's share of its program's run.
        return {"children": [record(r) for r in results]}

    # Every process must deal out the same children (checked by the gather).
    names = ";".join(f"{i}:{archs[i]}" for i in jobs)
    if ctx.batched is not None and jobs:
        together = [i for i in jobs if ctx.batched.supports(archs[i])]
        alone = [i for i in jobs if i not in together]
        rt = ctx.runtime
        dealt = child_batches.deal(archs, together, len(rt.devices), rt.process_count)
        # The batches too must be the same on every process.
        check = f"{names}|{dealt}"
        by_child = {}
        for chunks, run in (
            (dealt.split, rt.map_process_jobs),
            (dealt.single, rt.map_jobs),
        ):
            done = run(train_together, chunks, check=check) if chunks else []
            for chunk, res in zip(chunks, done, strict=True):
                by_child.update(zip(chunk, res["children"], strict=True))
        if alone:
            single = ctx.runtime.map_jobs(train_one, alone, check=names)
            by_child.update(zip(alone, single, strict=True))
        results = [by_child[i] for i in jobs]
    else:
        results = ctx.runtime.map_jobs(train_one, jobs, check=names) if jobs else []
    for i, res in zip(jobs, results, strict=True):
        name = str(archs[i])
        ctx.cache[name] = {k: res[k] for k in ("accuracy", "failed", "reason")}
        status[i] = "failed" if res["failed"] else "trained"
        secs[i] = res["wall_s"]
        ctx.log(
            f"  child {i}: {name} -> "
            + (
                f"failed ({res['reason']})"
                if res["failed"]
                else f"{res['accuracy']:.4f}"
            )
            + f" in {res['wall_s']:.1f}s"
        )
    for i, arch in enumerate(archs):
        if not alive[i]:
            continue
        hit = ctx.cache.get(str(arch))
        if hit is None:
            status[i] = "survived"
            continue
        if i not in jobs:
            status[i] = "failed" if hit["failed"] else "cached"
        acc[i] = hit["accuracy"]
    return acc, status, secs, len(jobs)


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


def _records(setup: Setup, batch: Evaluated, episode: int) -> list[dict[str, Any]]:
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


def _efficiency(setup: Setup, figures) -> np.ndarray:
    """The reward's efficiency term: the objective's figure (both reward
    objectives, throughput and energy, are larger-is-better)."""
    return np.asarray(objective_score(figures, setup.objective), np.float64)


def _explored(ctx: Context, tokens: np.ndarray):
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


def coexplore_or_random(
    ctx: Context, params, key, episode: int, uniform: bool, budget: int | None
):
    """One episode of ``coexplore`` (``uniform=False``) or ``random``."""
    s = ctx.setup
    sample_key, train_key = jax.random.split(key)
    tokens, entropy, arch_entropy = _sample(
        ctx, params, sample_key, uniform, s.search.candidates
    )
    archs, res, fast_s = _explored(ctx, tokens)
    designs = designs_from_arrays(res.refined)
    pruned = np.asarray(res.pruned)
    efficiency = _efficiency(s, res.figures)
    cfg = s.reward_config
    if uniform:
        predicted = np.full(len(archs), np.nan)
        order = np.arange(len(archs))
    else:
        measured = measured_accuracies(ctx.cache)
        predictor = predictor_lib.fit(measured, s.input_shape, prior=cfg.midpoint)
        predicted = predictor.predict(archs)
        expected = reward_lib.shrink_accuracy(
            predicted, list(measured.values()), cfg.acc_noise
        )
        score = reward_lib.coexplore_reward(expected, efficiency, pruned, cfg)
        order = np.argsort(-score, kind="stable")  # ties keep sampling order
    limit = s.search.children_per_episode
    if budget is not None:
        limit = min(limit, budget)
    jobs = _pick(ctx, archs, ~pruned, order, limit)
    t0 = time.perf_counter()
    acc, status, secs, trained = _train(ctx, archs, ~pruned, jobs, train_key)
    slow_s = time.perf_counter() - t0
    # Measured accuracy where there is one, else the prediction (coexplore),
    # differences below the proxy's noise counted as ties.
    known = reward_lib.shrink_accuracy(
        np.where(np.isnan(acc), predicted, acc),
        list(measured_accuracies(ctx.cache).values()),
        cfg.acc_noise,
    )
    failed = np.array([st == "failed" for st in status])
    known = np.where(failed, 0.0, known)  # a failed child keeps the worst reward
    rewards = reward_lib.coexplore_reward(known, efficiency, pruned, cfg).astype(
        np.float32
    )
    # The refined design replaces the sampled hardware tokens as the action.
    actions = tokens.copy()
    for i in np.flatnonzero(~pruned):
        actions[i] = s.full_space.encode(archs[i], designs[i])
    extra = [_explore_extra(res, i) for i in range(len(archs))]
    for i, e in enumerate(extra):
        e["predicted_accuracy"] = (
            None if np.isnan(predicted[i]) or pruned[i] else float(predicted[i])
        )
    batch = Evaluated(
        archs=archs,
        designs=designs,
        figures=res.figures,
        meets=res.meets_specs,
        status=status,
        accuracy=acc,
        rewards=rewards,
        tokens=actions,
        extra=extra,
        train_s=secs,
        fast_s=fast_s / len(archs),
    )
    return Outcome(
        records=_records(s, batch, episode),
        actions=None if uniform else actions,
        rewards=rewards,
        entropy=entropy,
        arch_entropy=arch_entropy,
        fast_s=fast_s,
        slow_s=slow_s,
        trained=trained,
    )


def _meets(setup: Setup, figures) -> np.ndarray:
    """``[B]`` bool: host figures meet the specs."""
    return meets_limits(
        np.asarray(figures.feasible),
        np.asarray(figures.throughput),
        np.asarray(figures.latency),
        np.asarray(figures.gops_per_w),
        setup.specs.limits(),
    )


def _architecture_episode(
    ctx: Context, params, key, episode: int, budget: int | None, hardware, reward
):
    """An episode of a strategy whose controller samples architectures only.

    Every child is trained, up to ``budget`` new ones (the rest are
    "skipped": no accuracy, no reward). ``hardware(archs, arch_arrays)``
    gives each its design and host figures; ``reward(accuracy, figures)``
    its reward.
    """
    s = ctx.setup
    sample_key, train_key = jax.random.split(key)
    batch = s.search.children_per_episode
    tokens, entropy, arch_entropy = _sample(ctx, params, sample_key, False, batch)
    archs = [a for a, _ in s.space.decode_batch(tokens)]
    t0 = time.perf_counter()
    designs, figures = hardware(archs, arch_arrays(archs, s.input_shape, xp=jnp))
    fast_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    everyone = np.ones(len(archs), bool)
    limit = len(archs) if budget is None else budget
    jobs = _pick(ctx, archs, everyone, range(len(archs)), limit)
    acc, status, secs, trained = _train(ctx, archs, everyone, jobs, train_key)
    status = ["skipped" if st == "survived" else st for st in status]
    slow_s = time.perf_counter() - t0
    rewards = np.where(
        np.isnan(acc), np.nan, reward(np.nan_to_num(acc), figures)
    ).astype(np.float32)
    batch = Evaluated(
        archs=archs,
        designs=designs,
        figures=figures,
        meets=_meets(s, figures),
        status=status,
        accuracy=acc,
        rewards=rewards,
        tokens=tokens,
        extra=[{"pruned_reason": None} for _ in archs],
        train_s=secs,
        fast_s=fast_s / len(archs),
    )
    return Outcome(
        records=_records(s, batch, episode),
        actions=tokens,
        rewards=rewards,
        entropy=entropy,
        arch_entropy=arch_entropy,
        fast_s=fast_s,
        slow_s=slow_s,
        trained=trained,
    )


def _score(setup: Setup, arr, designs: DesignArrays):
    """Host figures of designs on the platform (batched cost model)."""
    return host(
        cost_model.evaluate(
            arr,
            designs,
            setup.parrays,
            bits=setup.bits,
            enforce_bram=setup.enforce_bram,
        )
    )


def hw_aware(ctx: Context, params, key, episode: int, budget: int | None) -> Outcome:
    """One episode of hardware-aware NAS on the fixed design, soft reward."""
    s = ctx.setup

    def hardware(archs, arr):
        designs = [ctx.fixed_design] * len(archs)
        des = design_arrays(designs, s.space.arch.depth, s.platform.size, xp=jnp)
        return designs, _score(s, arr, des)

    def reward(acc, figures):
        return reward_lib.soft_constraint_reward(
            acc,
            np.asarray(figures.throughput, np.float64),
            s.specs.min_fps or 0.0,
            s.hw_aware.w,
        )

    return _architecture_episode(ctx, params, key, episode, budget, hardware, reward)


def sequential(ctx: Context, params, key, episode: int, budget: int | None) -> Outcome:
    """One episode of accuracy-only NAS; each child then gets its best hardware."""
    s = ctx.setup

    def hardware(archs, arr):
        opt = optimize(
            arr, s.design_space, s.objective, s.specs, devices=ctx.runtime.fast_devices
        )
        return designs_from_arrays(host(opt.design)), _score(s, arr, opt.design)

    def reward(acc, figures):
        del figures  # accuracy only
        return reward_lib.accuracy_reward(acc, s.reward_config)

    return _architecture_episode(ctx, params, key, episode, budget, hardware, reward)


def run_episode(
    ctx: Context, params, key, episode: int, budget: int | None = None
) -> Outcome:
    """Dispatch one episode of the configured strategy (``key`` consumed).

    Args:
      budget: children that may still be trained (None: no limit).
    """
    strategy = ctx.setup.strategy
    if strategy == "coexplore":
        return coexplore_or_random(ctx, params, key, episode, False, budget)
    if strategy == "random":
        return coexplore_or_random(ctx, params, key, episode, True, budget)
    if strategy == "hw_aware":
        return hw_aware(ctx, params, key, episode, budget)
    if strategy == "sequential":
        return sequential(ctx, params, key, episode, budget)
    raise SearchConfigError(f"config.strategy: unknown strategy {strategy!r}")


def _check_fixed_design(setup: Setup, design: Design, path: str) -> None:
    """Refuse a fixed design that cannot run every child of the space.

    An accelerator's resources depend only on its tiling, so the design is
    scored with the heaviest architecture of the space (largest kernel and
    filters everywhere, stride 1): feasible for it means feasible for all.
    """
    a = setup.space.arch
    heavy = Architecture(
        tuple((max(a.kernels), max(a.filters), min(a.strides)) for _ in range(a.depth))
    )
    des = design_arrays([design], a.depth, setup.platform.size, xp=jnp)
    fig = _score(setup, arch_arrays([heavy], setup.input_shape, xp=jnp), des)
    if bool(fig.feasible[0]):
        return
    problems = []
    for i, st in enumerate(design.stages):
        dev = setup.platform.devices[st.device]
        if bool(fig.stage_feasible[0, i]):
            continue
        parts = []
        if int(fig.stage_dsp[0, i]) > dev.dsp:
            parts.append(f"{int(fig.stage_dsp[0, i])} DSP > {dev.dsp}")
        if setup.enforce_bram and int(fig.stage_bram18[0, i]) > dev.bram18:
            parts.append(f"{int(fig.stage_bram18[0, i])} BRAM18 > {dev.bram18}")
        if int(fig.stage_port_bits[0, i]) > dev.port_bits:
            parts.append(
                f"{int(fig.stage_port_bits[0, i])} port bits > {dev.port_bits}"
            )
        if st.tiling.tk < max(a.kernels):
            parts.append(
                f"Tk {st.tiling.tk} < the space's largest kernel {max(a.kernels)}"
            )
        problems.append(
            f"stage {i} on {dev.name}: " + (", ".join(parts) or "infeasible")
        )
    raise SearchConfigError(
        f"config.search.hw_aware_design: {path} is not feasible on "
        f"{setup.platform.name}: " + "; ".join(problems)
    )


def default_reference(setup: Setup) -> Architecture:
    """hw_aware's reference network when none is configured: the largest
    (most MACs) *uniform* network of the space, one kernel size and filter
    count in every layer, whose best design meets the specs; the
    accelerator is built for the heaviest typical network that the spec
    allows, as a designer who fixes the hardware first would. Without specs,
    the largest uniform network.
    """
    a = setup.space.arch
    stride = min(a.strides)
    refs = [
        Architecture(tuple((k, f, stride) for _ in range(a.depth)))
        for k in a.kernels
        for f in a.filters
    ]
    ok = can_meet_specs(setup, refs)
    pool = [r for r, good in zip(refs, ok, strict=True) if good] or refs[:1]
    return max(pool, key=lambda r: predictor_lib.macs(r, setup.input_shape))


def fixed_design(setup: Setup) -> Design:
    """The hw_aware design: from a JSON file, or the best for a reference net.

    The reference network is ``config.search.hw_aware_reference`` (``""``:
    :func:`default_reference`). Its optimum (objective and specs of the run)
    is taken, and each stage's Tk is raised to the largest kernel of the
    space, since the fixed accelerator must run every architecture the
    controller may sample.
    """
    s = setup
    hw = s.hw_aware
    depth = s.space.arch.depth
    if hw.design:
        try:
            with open(hw.design) as f:
                design = design_from_record({"design": json.load(f)})
            design.validate(depth, s.platform.size)
        except FileNotFoundError:
            raise SearchConfigError(
                f"config.search.hw_aware_design: file not found: {hw.design}"
            ) from None
        except OSError as e:
            raise SearchConfigError(
                f"config.search.hw_aware_design: {hw.design}: cannot read ({e})"
            ) from None
        except (ValueError, KeyError, TypeError) as e:
            raise SearchConfigError(
                f"config.search.hw_aware_design: {hw.design}: {e}"
            ) from None
        _check_fixed_design(s, design, hw.design)
        return design
    if hw.reference:
        try:
            ref = Architecture.parse(hw.reference)
        except ValueError as e:
            raise SearchConfigError(f"config.search.hw_aware_reference: {e}") from None
        if ref.depth != depth:
            raise SearchConfigError(
                f"config.search.hw_aware_reference has {ref.depth} layers but the "
                f"space has depth {depth}"
            )
        a = s.space.arch
        outside = [
            f"layer {i} {k},{f},{st}"
            for i, (k, f, st) in enumerate(ref.layers)
            if k not in a.kernels or f not in a.filters or st not in a.strides
        ]
        if outside:
            raise SearchConfigError(
                "config.search.hw_aware_reference must lie in the search space "
                f"(kernels {a.kernels}, filters {a.filters}, strides {a.strides}); "
                f"not: {', '.join(outside)}"
            )
    else:
        ref = default_reference(s)
    opt = optimize(
        arch_arrays([ref], s.input_shape, xp=jnp), s.design_space, s.objective, s.specs
    )
    design = designs_from_arrays(host(opt.design))[0]
    if not design.stages:
        raise SearchConfigError(
            f"hw_aware: no feasible design exists for the reference network {ref}"
        )
    k_max = max(s.space.arch.kernels)
    return Design(
        tuple(
            dataclasses.replace(st, tiling=dataclasses.replace(st.tiling, tk=k_max))
            for st in design.stages
        )
    )
