"""Fast exploration: refine sampled hardware designs and prune by specs.

docs/design.md section 1, step 2. For each sampled (architecture, hardware design)
pair, the controller's own design is scored with the batched cost model, the
optimum over the whole declared design space is found by
:func:`cosearch.hardware.optimizer.optimize`, and the better of the two under
the objective (among those meeting the specs; ties: lower power) becomes the
refined design, the action taken. An architecture for which no design meets
the specs is pruned, with the reason and the best value reachable per spec.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from cosearch.hardware import cost_model, sharding
from cosearch.hardware.architecture import ArchArrays
from cosearch.hardware.design import Design, DesignArrays, designs_from_arrays
from cosearch.hardware.design_space import DesignSpace
from cosearch.hardware.optimizer import ENERGY_STEPS, TIE_RTOL, optimize
from cosearch.hardware.platform_arrays import platform_arrays
from cosearch.hardware.specs import (
    COMBINATION,
    MEETS,
    Objective,
    Specs,
    check_objective,
    meets_limits,
    objective_score,
)


@struct.dataclass
class ExploreResult:
    """Refined designs of a batch ``[B]`` and why some are pruned.

    Attributes:
      refined: :class:`DesignArrays` ``[B, ...]``, the design kept per pair.
      figures: :class:`cost_model.CostResult` ``[B]`` of the refined designs.
      sampled_figures: :class:`cost_model.CostResult` ``[B]`` of the sampled
        designs.
      kept_sampled: ``[B]`` bool, the sampled design was kept (it was at
        least as good as the optimum found).
      meets_specs: ``[B]`` bool, the refined design is feasible and meets
        every spec.
      pruned: ``[B]`` bool, no design meets the specs (reward -1).
      prune_reason: ``[B]`` int32 code of
        :data:`cosearch.hardware.specs.PRUNE_REASONS` (0 when not pruned).
      best_fps: ``[B]`` float32 highest reachable images/s.
      best_latency: ``[B]`` float32 lowest reachable seconds per image.
      best_gops_per_w: ``[B]`` float32 highest GOPS/W found (NaN unless the
        objective or a spec involves energy efficiency).
      designs_declared: ``[B]`` float64 designs in the declared space for
        each architecture's depth (partitions x allocations x tilings).
      designs_scanned: ``[B]`` float64 the same over the tilings kept after
        exact pruning, which the optimizer covers implicitly.
    """

    refined: DesignArrays
    figures: Any
    sampled_figures: Any
    kept_sampled: Any
    meets_specs: Any
    pruned: Any
    prune_reason: Any
    best_fps: Any
    best_latency: Any
    best_gops_per_w: Any
    designs_declared: Any
    designs_scanned: Any

    def designs(self) -> list[Design]:
        """The refined designs as host :class:`Design` records."""
        return designs_from_arrays(self.refined)


def _meets(fig, limits):
    """Whether cost-model figures meet the specs (elementwise)."""
    return meets_limits(
        fig.feasible, fig.throughput, fig.latency, fig.gops_per_w, limits
    )


@functools.partial(jax.jit, static_argnames=("objective",))
def _choose(sampled, samp_fig, opt_design, opt_fig, limits, *, objective):
    """Per pair: keep the sampled design when it meets the specs and beats
    (or ties with lower power) the optimum; returns (refined, figures, kept)."""
    s_ok, o_ok = _meets(samp_fig, limits), _meets(opt_fig, limits)
    s, o = objective_score(samp_fig, objective), objective_score(opt_fig, objective)
    better = s > o + jnp.abs(o) * TIE_RTOL
    tied = (s >= o - jnp.abs(o) * TIE_RTOL) & (samp_fig.power_w < opt_fig.power_w)
    keep = s_ok & (~o_ok | better | tied)

    def sel(a, b):
        k = keep.reshape(keep.shape + (1,) * (a.ndim - 1))
        return jnp.where(k, a, b)

    return (
        jax.tree.map(sel, sampled, opt_design),
        jax.tree.map(sel, samp_fig, opt_fig),
        keep,
    )


def fast_explore(
    arch: ArchArrays,
    sampled: DesignArrays,
    space: DesignSpace,
    specs: Specs | None = None,
    objective: Objective = "throughput",
    *,
    energy_steps: int = ENERGY_STEPS,
    devices: Sequence[jax.Device] | None = None,
) -> ExploreResult:
    """Scores the sampled designs and the optimum; returns the refined ones.

    Args:
      arch: :class:`ArchArrays` ``[B, L]`` (padded, masked).
      sampled: :class:`DesignArrays` ``[B, S]`` from the controller, S = pool
        size; tiling values may lie outside the grid.
      space: :class:`DesignSpace` of the platform (grid, bits, BRAM switch).
      specs: optional :class:`Specs`.
      objective: "throughput", "latency" or "energy".
      energy_steps: thresholds of the energy reduction (see optimizer).
      devices: None (default): everything on the default device. Otherwise
        the optimizer splits the batch over these devices (``optimize``'s
        ``devices``) and the sampled and optimum designs are scored by the
        cost model with the batch sharded as
        :func:`cosearch.hardware.sharding.evaluate_sharded` does (mesh of
        :func:`~cosearch.hardware.sharding.batch_mesh`, at least
        ``SCORE_MIN_PER_DEVICE`` pairs per device); the result is identical
        to ``devices=None`` and its arrays stay on that mesh.

    Returns:
      An :class:`ExploreResult` with a leading ``[B]`` axis.
    """
    check_objective(objective)
    specs = specs or Specs()
    if sampled.stage_end.shape[-1] != space.pool_size:
        raise ValueError(
            f"sampled designs have {sampled.stage_end.shape[-1]} stage slots; "
            f"the platform has {space.pool_size} FPGAs"
        )
    plat = platform_arrays(space.platform)
    score = functools.partial(
        cost_model.evaluate, bits=space.bits, enforce_bram=space.enforce_bram
    )
    opt = optimize(
        arch, space, objective, specs, energy_steps=energy_steps, devices=devices
    )
    if devices is not None:  # one mesh for the scoring and the choice
        mesh = sharding.batch_mesh(
            int(np.shape(arch.mask)[0]), devices, sharding.SCORE_MIN_PER_DEVICE
        )
        arch, sampled, opt = sharding.shard_batch((arch, sampled, opt), mesh)
        plat = sharding.replicate(plat, mesh)
    samp_fig = score(arch, sampled, plat)
    opt_fig = score(arch, opt.design, plat)
    limits = jnp.asarray(specs.limits(), jnp.float32)
    refined, figures, kept = _choose(
        sampled, samp_fig, opt.design, opt_fig, limits, objective=objective
    )
    meets = _meets(figures, limits)
    pruned = ~meets
    depth = np.asarray(arch.mask).sum(axis=-1)
    count = functools.lru_cache(maxsize=None)(space.designs_covered)
    declared = np.array([count(int(d)) for d in depth])
    scanned = np.array([count(int(d), True) for d in depth])
    reason = jnp.where(opt.prune_reason == MEETS, COMBINATION, opt.prune_reason)
    # The best reachable values count the sampled designs too.
    best_fps = jnp.where(samp_fig.feasible, samp_fig.throughput, 0.0)
    best_latency = jnp.where(samp_fig.feasible, samp_fig.latency, jnp.inf)
    return ExploreResult(
        refined=refined,
        figures=figures,
        sampled_figures=samp_fig,
        kept_sampled=kept,
        meets_specs=meets,
        pruned=pruned,
        prune_reason=jnp.where(pruned, reason, MEETS),
        best_fps=jnp.maximum(opt.best_fps, best_fps),
        best_latency=jnp.minimum(opt.best_latency, best_latency),
        best_gops_per_w=opt.best_gops_per_w,
        designs_declared=declared,
        designs_scanned=scanned,
    )
