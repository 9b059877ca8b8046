"""The batched analytic cost model: (architecture, design) pairs -> figures.

docs/design.md section 4 as pure ``jax.numpy`` functions: :func:`evaluate_one` for
one (architecture, design) pair and :func:`evaluate`, jitted, for a batch,
with the same values as ``jax.vmap(evaluate_one)`` bit for bit. Architectures
of different depth are padded to L layers with a mask; designs with fewer
stages are padded to S stages; one compiled program serves the whole batch.

Semantics (the same in :mod:`oracles.reference` and
:mod:`oracles.cost_numpy`):

* streaming, batch B = 1 per stage;
* stage s runs on pool slot d(s): compute seconds = sum over its layers of
  ``lat`` (cycles) / ``clock_hz[d]``; link seconds = bits * M * ceil(R/S) *
  ceil(C/S) of the stage's last layer output / ``link_bps[d]``, none after
  the last stage; ``stage_seconds`` = compute + link; ``stage_cycles`` =
  ``stage_seconds * clock_hz[d]``;
* throughput = 1 / max stage_seconds (images/s); latency = sum stage_seconds
  (s); pipeline efficiency = sum / (m * max);
* power = sum over used slots of static_w + dsp_w * DSP + bram_w * BRAM18
  (W); gops_per_w = 2 * MACs * throughput / power / 1e9; MACs = sum over
  layers of M N K^2 ceil(R/S) ceil(C/S);
* a stage is feasible when DSP, BRAM18 (if ``enforce_bram``) and port bits are
  within its device's budget and Tk >= every kernel of the stage; a design is
  feasible when it is valid and every stage is feasible;
* figures are computed for infeasible designs too (``feasible`` says whether
  to trust them); for an *invalid* design (bad stage structure) the scalar
  figures are 0.

Implementation. The per-layer latency terms and the per-accelerator
resources are the float32 forms of :mod:`cosearch.hardware.layer_model`
(:func:`~cosearch.hardware.layer_model.layer_terms`,
:func:`~cosearch.hardware.layer_model.stage_resources`), the one definition
the partition DP and the optimizer use too; one function, :func:`_figures`,
holds the rest (stages, pipeline, feasibility). It works on *batch-minor*
arrays: the batch axes come last (layer fields ``[L, ...]``,
stage fields ``[S, ...]``), so every per-layer or per-stage quantity is an
elementwise operation on contiguous rows of the batch, which XLA vectorises;
:func:`evaluate_one` calls it with no batch axes. Everything is int32/float32
elementwise work. The small static axes (S stages, P pool slots, and L layers
where a per-stage sum is needed) are walked with Python loops of vector
selects and adds in a fixed order, instead of gathers or small-axis
reductions, which XLA on CPU runs much slower; the same order for
every batch shape gives the same values bit for bit. The ceiling divisions
are done in float32, exact for integer operands below 2**24 (far above any
layer or tiling size of the search space).

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
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from jax.experimental.custom_partitioning import custom_partitioning
from jax.experimental.layout import Layout, with_layout_constraint

from cosearch.hardware.architecture import ArchArrays
from cosearch.hardware.design import DesignArrays
from cosearch.hardware.devices import PlatformArrays
from cosearch.hardware.layer_model import (
    COMPUTE,
    SUPPORTED_BITS,
    layer_terms,
    stage_resources,
)

# Column of each tiling parameter in DesignArrays.tiling[..., 8].
TM, TN, TR, TC, TK, WP, IP, OP = range(8)


@struct.dataclass
class CostResult:
    """Figures of (architecture, design) pairs.

    Batched (from :func:`evaluate`): a leading ``[B]`` axis on every field;
    from :func:`evaluate_one`: no batch axis. S = padded stages, L = padded
    layers.

    Attributes:
      throughput: ``[B]`` float32 images/s (0 if the design is invalid).
      latency: ``[B]`` float32 seconds per image (0 if invalid).
      gops_per_w: ``[B]`` float32 energy efficiency, GOPS/W (0 if invalid).
      pipeline_eff: ``[B]`` float32 sum / (m * max) of stage seconds, in
        (0, 1] (0 if invalid).
      power_w: ``[B]`` float32 W, summed over the used FPGAs (0 if invalid).
      macs: ``[B]`` float32 multiply-accumulates per image.
      feasible: ``[B]`` bool, valid and every stage within DSP, BRAM (if
        enforced) and ports, and Tk covering the stage's kernels.
      valid: ``[B]`` bool, 1 <= m <= S, stages contiguous, non-empty and
        covering all layers, distinct pool slots in range, tiling >= 1.
      stage_mask: ``[B, S]`` bool, True for the m real stages.
      stage_seconds: ``[B, S]`` float32 compute + link seconds (0 if padded).
      stage_cycles: ``[B, S]`` float32 stage_seconds in cycles of the stage's
        own clock (0 if padded).
      stage_dsp: ``[B, S]`` int32 DSP slices (0 if padded).
      stage_bram18: ``[B, S]`` int32 BRAM18K blocks (0 if padded).
      stage_port_bits: ``[B, S]`` int32 port bits per cycle (0 if padded).
      stage_feasible: ``[B, S]`` bool (False if padded).
      layer_cycles: ``[B, L]`` float32 lat of each layer in its stage's
        accelerator, cycles (0 if padded).
      layer_bottleneck: ``[B, L]`` int32 codes of
        :data:`cosearch.hardware.layer_model.BOTTLENECK_NAMES` (0 if padded).
      layer_stage: ``[B, L]`` int32 stage index of each layer (-1 if padded).
      stage_link_seconds: ``[B, S]`` float32 link part of stage_seconds.
    """

    throughput: Any
    latency: Any
    gops_per_w: Any
    pipeline_eff: Any
    power_w: Any
    macs: Any
    feasible: Any
    valid: Any
    stage_mask: Any
    stage_seconds: Any
    stage_cycles: Any
    stage_dsp: Any
    stage_bram18: Any
    stage_port_bits: Any
    stage_feasible: Any
    layer_cycles: Any
    layer_bottleneck: Any
    layer_stage: Any
    stage_link_seconds: Any


def _ceil_div(a, b):
    """ceil(a / b) of positive integers held in float32 (exact below 2**24)."""
    return jnp.ceil(a / b)


def _total(values):
    """Sum of an iterable of arrays, unrolled (elementwise adds fuse in XLA)."""
    return functools.reduce(lambda a, b: a + b, values)


def _check_bits(bits: int) -> None:
    if bits not in SUPPORTED_BITS:
        raise ValueError(f"bits must be one of {SUPPORTED_BITS}, got {bits!r}")


def _figures(
    arch, design, platform, bits: int, enforce_bram: bool, keep=lambda v: v
) -> CostResult:
    """docs/design.md section 4 on batch-minor arrays: the batch axes come last.

    Shapes, ``...`` being the batch shape (empty for one pair): arch.kernel,
    filters, stride, mask ``[L, ...]``; input_hwc ``[3, ...]``;
    design.num_stages ``[...]``; stage_end, device ``[S, ...]``; tiling
    ``[S, 8, ...]``; platform ``[P]``. The result has the same layout: scalars
    ``[...]``, per-stage fields ``[S, ...]``, per-layer fields ``[L, ...]``.

    Every per-layer or per-stage quantity is an elementwise function of
    contiguous ``[...]`` rows; the small static axes (S stages, P pool slots,
    L layers where a per-stage sum is needed) are walked with Python loops
    of selects and adds, in a fixed order, so that any batch shape gives the
    same values bit for bit.

    ``keep`` is applied to the per-layer stage indices, which many fusions
    need: :func:`evaluate` passes :func:`_row_major`, so that XLA stores them
    once instead of recomputing them in each fusion.
    """
    f32, i32 = jnp.float32, jnp.int32
    num_layers = arch.kernel.shape[0]
    num_slots = design.stage_end.shape[0]
    pool = platform.dsp.shape[-1]
    batch = design.num_stages.shape

    def column(values):  # a static vector along the leading axis
        return jnp.asarray(values).reshape((-1,) + (1,) * len(batch))

    # Layer shapes [L, ...]; padded layers become 1x1 stride-1 layers.
    mask = arch.mask.astype(bool)
    k_i = jnp.where(mask, arch.kernel, 1).astype(i32)
    k = k_i.astype(f32)
    s = jnp.where(mask, arch.stride, 1).astype(f32)
    m = jnp.where(mask, arch.filters, 1).astype(f32)
    hwc = arch.input_hwc.astype(f32)
    # ceil(ceil(R / s1) / s2) = ceil(R / (s1 s2)): divide by earlier strides.
    earlier = [jnp.ones(batch, f32)]
    for i in range(num_layers - 1):
        earlier.append(earlier[-1] * s[i])
    earlier = jnp.stack(earlier)
    r, c = _ceil_div(hwc[0], earlier), _ceil_div(hwc[1], earlier)
    n = jnp.concatenate([hwc[2:3], m[:-1]])
    r_out, c_out = _ceil_div(r, s), _ceil_div(c, s)
    depth = _total(mask[i].astype(i32) for i in range(num_layers))

    # Stage structure: layer i is in stage j when j real stages end at or
    # before it.
    num_stages = design.num_stages.astype(i32)
    slot = column(jnp.arange(num_slots, dtype=i32))
    real = slot < num_stages  # [S, ...]
    ends = design.stage_end.astype(i32)  # [S, ...]
    layer = column(jnp.arange(num_layers, dtype=i32))
    stage_of = _total(
        (real[j] & (ends[j] <= layer)).astype(i32) for j in range(num_slots)
    )  # [L, ...]
    stage_of = keep(stage_of)

    # Per-layer latency under the layer's own stage tiling.
    tiling = [design.tiling[:, f].astype(i32) for f in range(8)]  # 8 x [S, ...]
    safe = [jnp.maximum(col, 1).astype(f32) for col in tiling]

    def per_layer(col, order):
        out = jnp.broadcast_to(col[0], (num_layers,) + batch)
        for j in order:
            out = jnp.where(stage_of == j, col[j], out)
        return out

    fields = (TM, TN, TR, TC, WP, IP, OP)
    forward = [per_layer(safe[f], range(1, num_slots)) for f in fields]
    terms = layer_terms(n, m, r, c, k, s, *forward)
    cycles = jnp.where(mask, terms.cycles, 0.0)
    bottleneck = jnp.where(mask, terms.bottleneck, COMPUTE).astype(i32)

    # Per-stage sums [S, ...]; the link carries the stage's last layer's output.
    out_bits = float(bits) * m * r_out * c_out  # [L, ...]
    compute = jnp.zeros((num_slots,) + batch, f32)
    max_kernel = jnp.zeros((num_slots,) + batch, i32)
    link_bits = jnp.zeros((num_slots,) + batch, f32)
    for i in range(num_layers):
        member = mask[i] & (stage_of[i] == slot)
        compute += jnp.where(member, cycles[i], 0.0)
        max_kernel = jnp.maximum(max_kernel, jnp.where(member, k_i[i], 0))
        link_bits += jnp.where(ends - 1 == i, out_bits[i], 0.0)
    has_link = real & (slot < num_stages - 1)

    # Device record of each stage's slot (out-of-range slots: see validity).
    dev = design.device.astype(i32)

    def pick(field, dtype):
        field = field.astype(dtype)
        out = jnp.broadcast_to(field[0], dev.shape)
        for p in range(1, pool):
            out = jnp.where(dev == p, field[p], out)
        return out

    clock = pick(platform.clock_hz, f32)
    link_s = jnp.where(has_link, link_bits / pick(platform.link_bps, f32), 0.0)
    seconds = jnp.where(real, compute / clock + link_s, 0.0)

    dsp, bram, ports = stage_resources(*tiling, bits=bits)
    fits = (
        (dsp <= pick(platform.dsp, i32))
        & (ports <= pick(platform.port_bits, i32))
        & (tiling[TK] >= max_kernel)
    )
    if enforce_bram:
        fits &= bram <= pick(platform.bram18, i32)
    stage_feasible = real & fits
    stage_power = pick(platform.static_w, f32) + (
        pick(platform.dsp_w, f32) * dsp.astype(f32)
        + pick(platform.bram_w, f32) * bram.astype(f32)
    )

    # Validity of the structure.
    prev_end = jnp.concatenate([jnp.zeros_like(ends[:1]), ends[:-1]])
    stage_ok = (ends > prev_end) & (dev >= 0) & (dev < pool)
    for col in tiling:
        stage_ok &= col >= 1
    for q in range(num_slots - 1):  # slot q reused by a later real stage
        stage_ok &= ~((slot > q) & real[q] & (dev == dev[q]))
    valid = (num_stages >= 1) & (num_stages <= num_slots)
    for j in range(num_slots):
        valid &= ~real[j] | stage_ok[j]
        valid &= (j != num_stages - 1) | (ends[j] == depth)
    feasible = valid
    for j in range(num_slots):
        feasible &= ~real[j] | stage_feasible[j]

    # Pipeline figures.
    slowest = functools.reduce(jnp.maximum, [seconds[j] for j in range(num_slots)])
    slowest = jnp.where(valid, slowest, 1.0)
    total = _total(seconds[j] for j in range(num_slots))
    throughput = jnp.where(valid, 1.0 / slowest, 0.0)
    power = _total(jnp.where(real, stage_power, 0.0)[j] for j in range(num_slots))
    layer_macs = jnp.where(mask, m * n * k * k * r_out * c_out, 0.0)
    macs = _total(layer_macs[i] for i in range(num_layers))
    gops_per_w = jnp.where(
        valid, 2.0 * macs * throughput / jnp.where(valid, power, 1.0) / 1e9, 0.0
    )
    return CostResult(
        throughput=throughput,
        latency=jnp.where(valid, total, 0.0),
        gops_per_w=gops_per_w,
        pipeline_eff=jnp.where(valid, total / (num_stages.astype(f32) * slowest), 0.0),
        power_w=jnp.where(valid, power, 0.0),
        macs=macs,
        feasible=feasible,
        valid=valid,
        stage_mask=real,
        stage_seconds=seconds,
        stage_cycles=seconds * clock,
        stage_dsp=jnp.where(real, dsp, 0).astype(i32),
        stage_bram18=jnp.where(real, bram, 0).astype(i32),
        stage_port_bits=jnp.where(real, ports, 0).astype(i32),
        stage_feasible=stage_feasible,
        layer_cycles=cycles,
        layer_bottleneck=bottleneck,
        layer_stage=jnp.where(mask, stage_of, -1).astype(i32),
        stage_link_seconds=jnp.where(real, link_s, 0.0),
    )


def evaluate_one(
    arch: ArchArrays,
    design: DesignArrays,
    platform: PlatformArrays,
    *,
    bits: int = 16,
    enforce_bram: bool = True,
) -> CostResult:
    """Cost-model figures of one (architecture, design) pair on ``platform``.

    Implements docs/design.md section 4 (per-layer latency, resources, feasibility
    and pipeline figures) with the semantics in the module docstring. Layer i
    is in stage j when j real stages end at or before it; per-layer tilings
    and per-stage device records are picked with select chains, not gathers.

    Args:
      arch: one padded architecture: kernel, filters, stride ``[L]`` int32,
        mask ``[L]`` bool (a prefix), input_hwc ``[3]`` int32 (H, W, C).
      design: one padded design: num_stages ``[]`` int32, stage_end and
        device ``[S]`` int32, tiling ``[S, 8]`` int32 (tm, tn, tr, tc, tk, wp,
        ip, op).
      platform: the pool, ``[P]`` per field (not batched).
      bits: 16 (fixed point) or 32 (float); static.
      enforce_bram: whether BRAM18K over budget makes a stage infeasible;
        static.

    Returns:
      A :class:`CostResult` without batch axis.
    """
    _check_bits(bits)
    arch, design = jax.tree.map(jnp.asarray, (arch, design))
    return _figures(arch, design, platform, bits, enforce_bram)


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
        out = _figures(arch_m, design_m, platform, bits, enforce_bram, _row_major)
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
    _check_bits(bits)
    return _program(bits, enforce_bram)(arch, design, platform)
