"""The batched analytic cost model: (architecture, design) pairs -> figures.

DESIGN.md section 4 as one pure ``jax.numpy`` function of one pair
(:func:`evaluate_one`), lifted with ``jax.vmap`` and ``jax.jit``
(:func:`evaluate`). Architectures of different depth are padded to L layers
with a mask; designs with fewer stages are padded to S stages; one compiled
program serves the whole batch.

Semantics (the same in :mod:`cosearch.hardware.reference` and
:mod:`cosearch.hardware.cost_numpy`):

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

Speed: everything is int32/float32 elementwise work. The small static axes
(S stages, P pool slots, and L layers where a per-stage sum is needed) are
walked with Python loops of vector selects and adds instead of gathers or
small-axis reductions, which XLA on CPU runs several times slower; the
ceiling divisions are done in float32, exact for integer operands below
2**24 (far above any layer or tiling size of the search space). The
bottleneck codes are computed from a fenced copy (``optimization_barrier``)
of the per-layer inputs: XLA then recomputes the divides they share with the
cycles inside its own fusion instead of writing them to memory and reading
them back, about 15% less CPU per pair at B = 1e5 on CPU, same values.

Several devices: :mod:`cosearch.hardware.sharding` places the batch axis over
a 1-D mesh of the local devices; :func:`evaluate` runs unchanged on the
sharded arrays and gives the same values.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from cosearch.hardware.design import ArchArrays, DesignArrays
from cosearch.hardware.devices import PlatformArrays
from cosearch.hardware.layer_model import (
    BRAM_BITS,
    COMPUTE,
    INPUT_LOAD,
    OUTPUT_STORE,
    SUPPORTED_BITS,
    WEIGHT_LOAD,
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


def _layer_latency(n, m, r, c, k, s, tm, tn, tr, tc, wp, ip, op):
    """lat (cycles) and bottleneck code of layers, DESIGN.md section 4.

    Same formulas as :func:`cosearch.hardware.layer_model.layer_cost` (B = 1),
    elementwise on float32 arrays holding integers.
    """
    mn = jnp.minimum
    p2 = 2.0 * jnp.floor((k - 1.0) * 0.5)  # 2P, P = (K-1)//2
    k2 = k * k
    t_w = tm * tn * k2 / wp
    t_i = mn(tn, n) * mn(tr, r) * mn(tc, c) / ip
    t_o = mn(tm, m) * _ceil_div(mn(tr, r), s) * _ceil_div(mn(tc, c), s) / op
    t_c = k2 * _ceil_div(mn(tr, r + p2), s) * _ceil_div(mn(tc, c + p2), s)
    lat1 = jnp.maximum(jnp.maximum(t_i, t_w), t_c)
    acc = _ceil_div(n, tn) * lat1
    lat2 = jnp.maximum(acc, t_o)
    tiles = _ceil_div(r, tr) * _ceil_div(c, tc) * _ceil_div(m, tm)
    bottleneck = jnp.where(
        t_o > acc,
        OUTPUT_STORE,
        jnp.where(
            (t_c >= t_i) & (t_c >= t_w),
            COMPUTE,
            jnp.where(t_i >= t_w, INPUT_LOAD, WEIGHT_LOAD),
        ),
    )
    return tiles * lat2, bottleneck


def _resources(tiling, bits: int):
    """DSP, BRAM18K and port bits of accelerators, DESIGN.md section 4.

    Args:
      tiling: ``[8, ...]`` int32 (tm, tn, tr, tc, tk, wp, ip, op).
      bits: 16 or 32 (static).

    Returns:
      (dsp, bram18, port_bits) int32 arrays ``[...]``.
    """
    f32, i32 = jnp.float32, jnp.int32
    tm, tn, tr, tc, tk, wp, ip, op = tiling
    fmap = _ceil_div((tr * tc * bits).astype(f32), BRAM_BITS).astype(i32)
    if bits == 16:
        dsp = tm * tn
        per_mac = _ceil_div((4 * tk * tk * bits).astype(f32), BRAM_BITS)
        weights = tm * tn * per_mac.astype(i32)
    else:
        dsp = 5 * tm * tn
        per_mac = _ceil_div((tk * tk * bits).astype(f32), BRAM_BITS)
        weights = 2 * tm * tn * per_mac.astype(i32)
    bram = 2 * (tn + tm) * fmap + weights
    return dsp, bram, bits * (wp + ip + op)


def evaluate_one(
    arch: ArchArrays,
    design: DesignArrays,
    platform: PlatformArrays,
    *,
    bits: int = 16,
    enforce_bram: bool = True,
) -> CostResult:
    """Cost-model figures of one (architecture, design) pair on ``platform``.

    Implements DESIGN.md section 4 (per-layer latency, resources, feasibility
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
    f32, i32 = jnp.float32, jnp.int32
    num_layers = arch.kernel.shape[-1]
    num_slots = design.stage_end.shape[-1]
    pool = platform.dsp.shape[-1]

    # Layer shapes [L]; padded layers become 1x1 stride-1 layers (masked out).
    mask = arch.mask.astype(bool)
    k_i = jnp.where(mask, arch.kernel, 1).astype(i32)
    k = k_i.astype(f32)
    s = jnp.where(mask, arch.stride, 1).astype(f32)
    m = jnp.where(mask, arch.filters, 1).astype(f32)
    hwc = arch.input_hwc.astype(f32)
    # ceil(ceil(R / s1) / s2) = ceil(R / (s1 s2)): divide by earlier strides.
    earlier = [jnp.ones((), f32)]
    for i in range(num_layers - 1):
        earlier.append(earlier[-1] * s[i])
    earlier = jnp.stack(earlier)
    r, c = _ceil_div(hwc[0], earlier), _ceil_div(hwc[1], earlier)
    n = jnp.concatenate([hwc[2:3], m[:-1]])
    r_out, c_out = _ceil_div(r, s), _ceil_div(c, s)
    depth = _total(mask[i].astype(i32) for i in range(num_layers))

    # Stage structure: layer i is in stage j when j real stages end at or
    # before it. Loops below run over a small static axis with elementwise
    # vector work, so that XLA fuses them (no small reductions, no gathers).
    num_stages = design.num_stages.astype(i32)
    slot = jnp.arange(num_slots, dtype=i32)
    real = slot < num_stages  # [S]
    ends = design.stage_end.astype(i32)  # [S]
    layer = jnp.arange(num_layers, dtype=i32)
    stage_of = _total(
        (real[j] & (ends[j] <= layer)).astype(i32) for j in range(num_slots)
    )  # [L]

    # Per-layer latency under the layer's own stage tiling.
    tiling = [design.tiling[:, f].astype(i32) for f in range(8)]  # 8 x [S]
    lt = []  # 8 x [L]: the tiling of each layer's stage
    for col in tiling:
        col = jnp.maximum(col, 1).astype(f32)
        per_layer = jnp.broadcast_to(col[0], (num_layers,))
        for j in range(1, num_slots):
            per_layer = jnp.where(stage_of == j, col[j], per_layer)
        lt.append(per_layer)
    cycles, _ = _layer_latency(
        n, m, r, c, k, s, lt[TM], lt[TN], lt[TR], lt[TC], lt[WP], lt[IP], lt[OP]
    )
    # Same formulas on a fenced copy, for the bottleneck code only (see the
    # module docstring: recomputing the shared divides is cheaper than
    # storing them).
    fenced = jax.lax.optimization_barrier((n, m, r, c, k, s, lt))
    fn, fm, fr, fc, fk, fs, ft = fenced
    _, bottleneck = _layer_latency(
        fn, fm, fr, fc, fk, fs, ft[TM], ft[TN], ft[TR], ft[TC], ft[WP], ft[IP], ft[OP]
    )
    cycles = jnp.where(mask, cycles, 0.0)
    bottleneck = jnp.where(mask, bottleneck, COMPUTE).astype(i32)

    # Per-stage sums [S]; the link carries the stage's last layer's output.
    out_bits = float(bits) * m * r_out * c_out  # [L]
    compute = jnp.zeros((num_slots,), f32)
    max_kernel = jnp.zeros((num_slots,), i32)
    link_bits = jnp.zeros((num_slots,), f32)
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
        out = jnp.broadcast_to(field[0], (num_slots,))
        for p in range(1, pool):
            out = jnp.where(dev == p, field[p], out)
        return out

    clock = pick(platform.clock_hz, f32)
    link_s = jnp.where(has_link, link_bits / pick(platform.link_bps, f32), 0.0)
    seconds = jnp.where(real, compute / clock + link_s, 0.0)

    dsp, bram, ports = _resources(tiling, bits)
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
    prev_end = jnp.concatenate([jnp.zeros((1,), i32), ends[:-1]])
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


@functools.partial(jax.jit, static_argnames=("bits", "enforce_bram"))
def evaluate(
    arch: ArchArrays,
    design: DesignArrays,
    platform: PlatformArrays,
    *,
    bits: int = 16,
    enforce_bram: bool = True,
) -> CostResult:
    """:func:`evaluate_one` over a batch: ``jit(vmap(evaluate_one))``.

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
    one = functools.partial(evaluate_one, bits=bits, enforce_bram=enforce_bram)
    return jax.vmap(one, in_axes=(0, 0, None))(arch, design, platform)
