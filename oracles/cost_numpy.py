"""The cost model vectorised with NumPy over a batch: the benchmark's peer.

The same figures as :func:`cosearch.hardware.cost_model.evaluate`, written
directly on batched ``[B, ...]`` NumPy arrays (no per-pair Python loop), the
way one would vectorise the model without JAX. Layer cycles and resources
come from the integer array forms
:func:`cosearch.hardware.layer_model.layer_cycles` and
:func:`cosearch.hardware.layer_model.resources` with ``xp=np``, so this is
also an independent check of the float32 ceiling divisions of the JAX code.
Stage membership is the same dense ``[B, L, S]`` mask; semantics are those of
the :mod:`cosearch.hardware.cost_model` docstring.
"""

from __future__ import annotations

import numpy as np

from cosearch.hardware.architecture import ArchArrays
from cosearch.hardware.cost_figures import TK, CostResult
from cosearch.hardware.design import DesignArrays
from cosearch.hardware.layer_model import COMPUTE, layer_cycles
from cosearch.hardware.platform_arrays import PlatformArrays
from cosearch.hardware.resources import resources


def evaluate_numpy(
    arch: ArchArrays,
    design: DesignArrays,
    platform: PlatformArrays,
    *,
    bits: int = 16,
    enforce_bram: bool = True,
) -> CostResult:
    """Batched cost-model figures in NumPy (float32/int32, like the JAX one).

    Args:
      arch: :class:`ArchArrays` of NumPy arrays with a leading ``[B]`` axis.
      design: :class:`DesignArrays` of NumPy arrays with a leading ``[B]``.
      platform: :class:`PlatformArrays` ``[P]``.
      bits: 16 or 32.
      enforce_bram: whether BRAM18K counts for feasibility.

    Returns:
      A :class:`CostResult` of NumPy arrays with a leading ``[B]`` axis.
    """
    f32, i32 = np.float32, np.int32
    mask = np.asarray(arch.mask, bool)  # [B, L]
    batch, num_layers = mask.shape
    ends = np.asarray(design.stage_end, i32)  # [B, S]
    num_slots = ends.shape[1]
    pool = np.asarray(platform.dsp).shape[0]

    # Layer shapes [B, L].
    k = np.where(mask, arch.kernel, 1).astype(i32)
    s = np.where(mask, arch.stride, 1).astype(i32)
    m = np.where(mask, arch.filters, 1).astype(i32)
    hwc = np.asarray(arch.input_hwc, i32)  # [B, 3]
    earlier = np.cumprod(s, axis=1) // s
    r = -(-hwc[:, :1] // earlier)
    c = -(-hwc[:, 1:2] // earlier)
    n = np.concatenate([hwc[:, 2:3], m[:, :-1]], axis=1)
    r_out, c_out = -(-r // s), -(-c // s)
    depth = mask.sum(axis=1)

    # Stage structure.
    num_stages = np.asarray(design.num_stages, i32)[:, None]  # [B, 1]
    slot = np.arange(num_slots, dtype=i32)
    real = slot[None, :] < num_stages  # [B, S]
    layer = np.arange(num_layers, dtype=i32)
    ended = real[:, None, :] & (ends[:, None, :] <= layer[None, :, None])
    stage_of = ended.sum(axis=2, dtype=i32)  # [B, L]
    member = mask[:, :, None] & (stage_of[:, :, None] == slot)  # [B, L, S]

    # Per-layer tiling and cycles.
    tiling = np.asarray(design.tiling, i32)  # [B, S, 8]
    safe = np.maximum(tiling, 1)
    lt = np.einsum("bls,bsf->blf", member.astype(i32), safe)
    lt = np.maximum(lt, 1)
    tm, tn, tr, tc, _, wp, ip, op = np.moveaxis(lt, 2, 0)
    cycles, bottleneck = layer_cycles(
        n, m, r, c, k, s, tm, tn, tr, tc, wp, ip, op, xp=np
    )
    cycles = np.where(mask, cycles, f32(0))
    bottleneck = np.where(mask, bottleneck, COMPUTE).astype(i32)

    # Per-stage sums and link.
    compute = np.einsum("bls,bl->bs", member.astype(f32), cycles)
    max_kernel = np.where(member, k[:, :, None], 0).max(axis=1)
    has_link = real & (slot[None, :] < num_stages - 1)
    is_last = has_link[:, None, :] & (layer[None, :, None] == ends[:, None, :] - 1)
    out_bits = (f32(bits) * (m * r_out * c_out).astype(f32)).astype(f32)
    link_bits = np.einsum("bls,bl->bs", is_last.astype(f32), out_bits)

    dev = np.asarray(design.device, i32)
    slot_dev = np.clip(dev, 0, pool - 1)

    def pick(field, dtype):
        return np.asarray(field, dtype)[slot_dev]

    clock = pick(platform.clock_hz, f32)
    link_s = np.where(has_link, link_bits / pick(platform.link_bps, f32), f32(0))
    seconds = np.where(real, compute / clock + link_s, f32(0)).astype(f32)

    dsp, bram, lutram, ffs, ports = resources(
        *np.moveaxis(tiling, 2, 0), bits=bits, xp=np
    )
    fits = (
        (dsp <= pick(platform.dsp, i32))
        & (ports <= pick(platform.port_bits, i32))
        & (tiling[:, :, TK] >= max_kernel)
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

    # Validity.
    prev_end = np.concatenate([np.zeros((batch, 1), i32), ends[:, :-1]], axis=1)
    last_end = np.where(slot[None, :] == num_stages - 1, ends, 0).sum(axis=1)
    reused = (
        (dev[:, :, None] == dev[:, None, :])
        & real[:, :, None]
        & real[:, None, :]
        & (slot[:, None] < slot[None, :])
    )
    stage_ok = (ends > prev_end) & (dev >= 0) & (dev < pool)
    stage_ok &= np.all(tiling >= 1, axis=2)
    num = num_stages[:, 0]
    valid = (
        (num >= 1)
        & (num <= num_slots)
        & (last_end == depth)
        & np.all(~real | stage_ok, axis=1)
        & ~np.any(reused, axis=(1, 2))
    )
    feasible = valid & np.all(~real | stage_feasible, axis=1)

    # Pipeline figures.
    slowest = np.where(valid, seconds.max(axis=1), f32(1))
    total = seconds.sum(axis=1, dtype=f32)
    with np.errstate(divide="ignore", invalid="ignore"):
        throughput = np.where(valid, f32(1) / slowest, f32(0))
        power = np.where(real, stage_power, f32(0)).sum(axis=1, dtype=f32)
        layer_macs = (m * n * k * k).astype(f32) * (r_out * c_out).astype(f32)
        macs = np.where(mask, layer_macs, f32(0)).sum(axis=1, dtype=f32)
        gops_per_w = np.where(
            valid, f32(2) * macs * throughput / np.where(valid, power, 1) / 1e9, 0
        )
        pipeline_eff = np.where(valid, total / (num.astype(f32) * slowest), 0)
    return CostResult(
        throughput=throughput.astype(f32),
        latency=np.where(valid, total, f32(0)),
        gops_per_w=gops_per_w.astype(f32),
        pipeline_eff=pipeline_eff.astype(f32),
        power_w=np.where(valid, power, f32(0)),
        macs=macs,
        feasible=feasible,
        valid=valid,
        stage_mask=real,
        stage_seconds=seconds,
        stage_cycles=(seconds * clock).astype(f32),
        stage_dsp=np.where(real, dsp, 0).astype(i32),
        stage_bram18=np.where(real, bram, 0).astype(i32),
        stage_lutram=np.where(real, lutram, 0).astype(i32),
        stage_ffs=np.where(real, ffs, 0).astype(i32),
        stage_port_bits=np.where(real, ports, 0).astype(i32),
        stage_feasible=stage_feasible,
        layer_cycles=cycles.astype(f32),
        layer_bottleneck=bottleneck,
        layer_stage=np.where(mask, stage_of, -1).astype(i32),
        stage_link_seconds=np.where(real, link_s, f32(0)).astype(f32),
    )
