"""The analytic cost model's figures of (architecture, design) pairs.

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
* a stage is feasible when DSP, on-chip memory (BRAM18, LUTRAM and
  flip-flops of its buffer banks, if ``enforce_bram``) and port bits are
  within its device's budget and Tk >= every kernel of the stage; a design is
  feasible when it is valid and every stage is feasible;
* figures are computed for infeasible designs too (``feasible`` says whether
  to trust them); for an *invalid* design (bad stage structure) the scalar
  figures are 0.

Implementation. The per-layer latency terms are the float32 form of
:mod:`cosearch.hardware.layer_model`
(:func:`~cosearch.hardware.layer_model.layer_terms`) and the per-accelerator
resources the int32 form of :mod:`cosearch.hardware.resources`
(:func:`~cosearch.hardware.resources.resources`, BRAM from the buffers the
exported engine declares), the one definitions the partition DP and the
optimizer use too; one function, :func:`pair_figures`,
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

The batched entry point, :func:`cosearch.hardware.cost_model.evaluate`, is in
:mod:`cosearch.hardware.cost_model`.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from cosearch.hardware.architecture import ArchArrays
from cosearch.hardware.design import DesignArrays
from cosearch.hardware.layer_model import COMPUTE, check_bits, layer_terms
from cosearch.hardware.platform_arrays import PlatformArrays
from cosearch.hardware.resources import resources

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
      stage_lutram: ``[B, S]`` int32 LUTs of distributed-RAM banks (0 if
        padded).
      stage_ffs: ``[B, S]`` int32 flip-flops of register banks (0 if padded).
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
    stage_lutram: Any
    stage_ffs: Any
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


def pair_figures(
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

    dsp, bram, lutram, ffs, ports = resources(*tiling, bits=bits)
    fits = (
        (dsp <= pick(platform.dsp, i32))
        & (ports <= pick(platform.port_bits, i32))
        & (tiling[TK] >= max_kernel)
    )
    if enforce_bram:
        fits &= (
            (bram <= pick(platform.bram18, i32))
            & (lutram <= pick(platform.lutram, i32))
            & (ffs <= pick(platform.ffs, i32))
        )
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
        stage_lutram=jnp.where(real, lutram, 0).astype(i32),
        stage_ffs=jnp.where(real, ffs, 0).astype(i32),
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
    check_bits(bits)
    arch, design = jax.tree.map(jnp.asarray, (arch, design))
    return pair_figures(arch, design, platform, bits, enforce_bram)
