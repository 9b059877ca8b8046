"""The batched analytic cost model: (architecture, design) pairs -> figures.

:func:`evaluate`, jitted, gives for a batch of pairs the figures of
:func:`cosearch.hardware.cost_figures.evaluate_one` (docs/design.md section
4; semantics in :mod:`cosearch.hardware.cost_figures`), the same values as
``jax.vmap(evaluate_one)`` bit for bit. :class:`CostResult` and
:func:`evaluate_one` are importable from here too.

:func:`evaluate` takes and returns the public batch-major arrays (``[B, L]``,
``[B, S]``, ``[B, S, 8]``). On CPU it walks the batch in steps of about
:data:`CHUNK` pairs (a ``fori_loop``): each step transposes its slice of the
inputs to batch-minor, evaluates it and transposes the figures back into the
output arrays. This needs much less CPU per pair than
``jit(vmap(evaluate_one))`` (BUILD_NOTES.md has the measurements), for
these reasons:

* the batch-minor work vectorises (under ``vmap`` the batch is the major
  axis, and XLA's fusions read strided columns of ``[B, L]`` arrays and
  broadcasts of ``[B, S, 8]`` tilings, which it cannot vectorise);
* every transpose is forced with ``with_layout_constraint`` (row-major):
  without it XLA's layout assignment folds the transposes into the layouts
  of their neighbours and is back to strided, scalar code. This also keeps
  the loop's dynamic slices in the transposes: a dynamic slice fused into a
  compute fusion slows that fusion down;
* the transposes are 2-D (``[W, F] <-> [F, W]``), which XLA emits much
  faster than 3-D ones (hence the tiling as ``[S, 8, ...]``);
* a step's intermediates stay in the caches, and the program needs under
  2 MB of scratch instead of tens of MB per call, whose fresh pages cost
  page faults on every call;
* the step width avoids multiples of 256 (rows 1 KiB apart or a power of two
  alias in the caches);
* the per-layer stage indices are stored once per step rather than
  recomputed in each of the fusions that need them.

Several devices: :mod:`cosearch.hardware.sharding` places the batch axis over
a 1-D mesh of the local devices. The batch loop is wrapped in
``custom_partitioning`` with the batch axis as its only shardable axis, so
each device runs the loop over its own pairs (no communication; a layout
constraint alone would make the SPMD partitioner gather the whole batch),
and the results equal the single-device ones. ``custom_partitioning`` has no
batching rule, so :func:`evaluate` gives ``jax.vmap`` its own (see
:func:`_program`).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax.experimental.custom_partitioning import custom_partitioning
from jax.experimental.layout import Layout, with_layout_constraint

from cosearch.hardware.architecture import ArchArrays
from cosearch.hardware.cost_figures import (
    TK,
    CostResult,
    evaluate_one,
    pair_figures,
)
from cosearch.hardware.design import DesignArrays
from cosearch.hardware.layer_model import check_bits
from cosearch.hardware.platform_arrays import PlatformArrays

__all__ = ["CHUNK", "TK", "CostResult", "evaluate", "evaluate_one"]

# Pairs per step of the loop over the batch in :func:`evaluate` on CPU: small
# enough that the step's intermediates stay in the caches.
CHUNK = 2000


def _step_width(batch: int) -> int:
    """Pairs per loop step for a (per-device) batch of ``batch`` pairs."""
    if batch <= CHUNK or jax.default_backend() != "cpu":
        return batch
    steps = -(-batch // CHUNK)
    width = -(-batch // steps)  # steps of equal width, about CHUNK
    width += -width % 8  # aligned rows
    if width % 256 == 0:  # rows a power of two apart alias in the caches
        width += 8
    return min(width, batch)


def _row_major(v):
    """``v``, stored row-major at this point of the program.

    Keeps XLA's layout assignment from turning the transposes next to it into
    layout changes of their neighbours (strided, unvectorised fusions).
    """
    return with_layout_constraint(v, Layout(tuple(range(v.ndim))))


def _batch_minor(v):
    """``[W, *f]`` -> ``[*f, W]`` (one 2-D transpose, materialised)."""
    width, *f = v.shape
    flat = _row_major(jnp.transpose(v.reshape(width, math.prod(f))))
    return flat.reshape(*f, width)


def _batch_major(v):
    """``[*g, W]`` -> ``[W, *g]`` (one 2-D transpose, materialised)."""
    *g, width = v.shape
    flat = _row_major(v.reshape(math.prod(g), width))
    return jnp.transpose(flat).reshape(width, *g)


def _evaluate_local(bits, enforce_bram, arch, design, platform) -> CostResult:
    """:func:`evaluate` on the pairs of one device (arrays batch-major)."""
    batch = arch.kernel.shape[0]
    width = _step_width(batch)

    def step(start):
        pairs = jax.tree.map(
            lambda v: jax.lax.dynamic_slice_in_dim(v, start, width), (arch, design)
        )
        arch_m, design_m = jax.tree.map(_batch_minor, pairs)
        out = pair_figures(arch_m, design_m, platform, bits, enforce_bram, _row_major)
        return jax.tree.map(_batch_major, out)

    if width == batch:
        return step(0)

    def body(i, outs):
        start = jnp.minimum(i * width, batch - width)  # the last step overlaps
        return jax.tree.map(
            lambda o, v: jax.lax.dynamic_update_slice_in_dim(o, v, start, axis=0),
            outs,
            step(start),
        )

    # Distinct fill values, so that XLA does not share one buffer and copy it.
    leaves, tree = jax.tree.flatten(jax.eval_shape(step, 0))
    init = [jnp.full((batch, *v.shape[1:]), i, v.dtype) for i, v in enumerate(leaves)]
    steps = -(-batch // width)
    return jax.lax.fori_loop(0, steps, body, jax.tree.unflatten(tree, init))


def _sharding_rule() -> str:
    """Einsum-like rule of :func:`_evaluate_local`: only ``b`` is shardable."""
    dims = {
        "kernel": "b l", "filters": "b l", "stride": "b l", "mask": "b l",
        "input_hwc": "b h", "num_stages": "b", "stage_end": "b s",
        "device": "b s", "tiling": "b s f",
    }  # fmt: skip
    args = [dims[name] for name in ArchArrays.__dataclass_fields__]
    args += [dims[name] for name in DesignArrays.__dataclass_fields__]
    args += ["p" for _ in PlatformArrays.__dataclass_fields__]
    per = {"layer": "b l", "stage": "b s"}  # by field-name prefix, else [B]
    outs = [
        per.get(name.split("_")[0], "b") for name in CostResult.__dataclass_fields__
    ]
    return ", ".join(args) + " -> " + ", ".join(outs)


def _along_batch(mesh, like, shape):
    """Sharding of an array ``shape`` split like ``like`` along its first axis."""
    spec = getattr(like.sharding, "spec", ())
    axes = spec[0] if len(spec) else None
    rest = [None] * (len(shape.shape) - 1)
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(axes, *rest))


def _partition(bits, enforce_bram, mesh, arg_shapes, result_shape):
    """Each device evaluates its own pairs; the platform is replicated."""
    arch, design, platform = arg_shapes
    like = arch.kernel
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    arg_shardings = (
        jax.tree.map(lambda x: _along_batch(mesh, like, x), arch),
        jax.tree.map(lambda x: _along_batch(mesh, like, x), design),
        jax.tree.map(lambda x: replicated, platform),
    )
    result_shardings = jax.tree.map(lambda x: _along_batch(mesh, like, x), result_shape)
    lower = functools.partial(_evaluate_local, bits, enforce_bram)
    return mesh, lower, result_shardings, arg_shardings


def _infer_sharding(bits, enforce_bram, mesh, arg_shapes, result_shape):
    """Result shardings for the GSPMD partitioner (Shardy uses the rule)."""
    like = arg_shapes[0].kernel
    return jax.tree.map(lambda x: _along_batch(mesh, like, x), result_shape)


_evaluate_partitioned = custom_partitioning(_evaluate_local, static_argnums=(0, 1))
_evaluate_partitioned.def_partition(
    partition=_partition,
    infer_sharding_from_operands=_infer_sharding,
    sharding_rule=_sharding_rule(),
    need_replication_factors=("l", "h", "s", "f", "p"),
)


@functools.cache
def _program(bits: int, enforce_bram: bool):
    """The batch evaluation of :func:`evaluate`, made composable with vmap.

    ``custom_partitioning`` has no batching rule; under ``jax.vmap`` the mapped
    axis is folded into the batch axis (one call on ``[n * B]`` pairs), or,
    where the platform itself is mapped, every pair is evaluated with
    :func:`evaluate_one` (same values either way).
    """

    @jax.custom_batching.custom_vmap
    def run(arch, design, platform):
        return _evaluate_partitioned(bits, enforce_bram, arch, design, platform)

    @run.def_vmap
    def _(axis_size, in_batched, arch, design, platform):
        arch_b, design_b, platform_b = in_batched
        if any(jax.tree.leaves(platform_b)):
            axes = lambda flags: jax.tree.map(lambda b: 0 if b else None, flags)
            one = functools.partial(evaluate_one, bits=bits, enforce_bram=enforce_bram)
            per_pair = jax.vmap(one, in_axes=(0, 0, None))
            mapped = jax.vmap(
                per_pair, in_axes=(axes(arch_b), axes(design_b), axes(platform_b))
            )
            out = mapped(arch, design, platform)
        else:

            def fold(v, batched):
                v = v if batched else jnp.broadcast_to(v, (axis_size, *v.shape))
                return v.reshape(-1, *v.shape[2:])

            out = run(
                jax.tree.map(fold, arch, arch_b),
                jax.tree.map(fold, design, design_b),
                platform,
            )
            pairs = arch.kernel.shape[1 if arch_b.kernel else 0]
            out = jax.tree.map(lambda v: v.reshape(axis_size, pairs, *v.shape[1:]), out)
        return out, jax.tree.map(lambda _: True, out)

    return run


@functools.partial(jax.jit, static_argnames=("bits", "enforce_bram"))
def evaluate(
    arch: ArchArrays,
    design: DesignArrays,
    platform: PlatformArrays,
    *,
    bits: int = 16,
    enforce_bram: bool = True,
) -> CostResult:
    """:func:`evaluate_one` over a batch, jitted (same values as its vmap).

    See the module docstring for how it is computed (batch-minor steps of
    :data:`CHUNK` pairs on CPU; each device its own pairs when the batch is
    sharded).

    Args:
      arch: :class:`ArchArrays` with a leading ``[B]`` axis (kernel, filters,
        stride, mask ``[B, L]``; input_hwc ``[B, 3]``).
      design: :class:`DesignArrays` with a leading ``[B]`` axis (num_stages
        ``[B]``; stage_end, device ``[B, S]``; tiling ``[B, S, 8]``).
      platform: :class:`PlatformArrays` ``[P]``, shared by the batch.
      bits: 16 or 32 (static).
      enforce_bram: whether BRAM18K counts for feasibility (static).

    Returns:
      A :class:`CostResult` with a leading ``[B]`` axis.
    """
    check_bits(bits)
    return _program(bits, enforce_bram)(arch, design, platform)
