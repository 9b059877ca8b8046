"""Layer ranges and the exact partition + allocation programme over them.

A stage runs a contiguous range ``[i, j)`` of the network's L layers; there
are R = L (L + 1) / 2 of them (:func:`layer_ranges`). :func:`range_cycles`
sums the layer cycles of every kept tiling row over every range (one GEMM per
chunk of architectures).

Partition + allocation (:func:`dp`, result a :class:`Plan`): a dynamic
programme over (layers covered, subset of pool slots used), 2**P subsets,
with max (throughput) or sum (latency) of stage seconds, ties (within a
relative :data:`TIE_RTOL`) by the sum of a second cost. Chain order does not
change the figures, so a subset of slots stands for every ordering of it.

:func:`least_power` and :func:`bisect_min` are the threshold helpers of the
optimizer's energy reduction and latency-spec bisection.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cosearch.hardware.architecture import ArchArrays
from cosearch.hardware.layer_model import layer_terms

TIE_RTOL = 1e-5  # relative window within which float32 figures count as tied
_INF = jnp.inf


def layer_ranges(num_layers: int):
    """Static tables of the R = L (L + 1) / 2 layer ranges ``[i, j)``."""
    pairs = [(i, j) for j in range(1, num_layers + 1) for i in range(j)]
    ri = np.array([p[0] for p in pairs], np.int32)
    rj = np.array([p[1] for p in pairs], np.int32)
    layer = np.arange(num_layers)
    member = ((layer[None] >= ri[:, None]) & (layer[None] < rj[:, None])).astype(
        np.float32
    )
    index = np.zeros((num_layers + 1, num_layers + 1), np.int32)
    index[ri, rj] = np.arange(len(pairs))
    return ri, rj, member, index


def _layer_cycles(arch: ArchArrays, ftable):
    """``[L, T, G]`` float32 cycles of every layer on every tiling row.

    :func:`cosearch.hardware.layer_model.layer_terms`, the cost model's own
    definition, on layer sizes formed as the cost model forms them (exact
    float32 integers), so the figures agree bit for bit.

    Args:
      arch: one padded architecture ``[L]``.
      ftable: ``[7, T, G]`` float32 (tm, tn, tr, tc, wp, ip, op) per row.
    """
    f32 = jnp.float32
    mask = arch.mask
    ex = lambda v: v[:, None, None]
    k = ex(jnp.where(mask, arch.kernel, 1).astype(f32))
    s_i = jnp.where(mask, arch.stride, 1).astype(jnp.int32)
    m = jnp.where(mask, arch.filters, 1).astype(f32)
    h, w, ch = (arch.input_hwc[i].astype(f32) for i in range(3))
    scale = (jnp.cumprod(s_i) // s_i).astype(f32)
    s = ex(s_i.astype(f32))
    r, c = ex(jnp.ceil(h / scale)), ex(jnp.ceil(w / scale))
    n = ex(jnp.concatenate([ch[None], m[:-1]]))
    m = ex(m)
    tiling = (ftable[i][None] for i in range(7))  # tm, tn, tr, tc, wp, ip, op
    return layer_terms(n, m, r, c, k, s, *tiling).cycles


def range_cycles(arch: ArchArrays, rows):
    """``[B, R, T, G]`` cycles of every layer range on every tiling row.

    One GEMM for the whole batch (member ``[R, L]`` x cycles ``[L, B T G]``)
    rather than one small product per architecture. ``rows``:
    :func:`cosearch.hardware.design_space.row_tables` (``"ftable"`` is read).
    """
    cyc = jax.vmap(_layer_cycles, in_axes=(0, None))(arch, rows["ftable"])
    cyc = jnp.where(arch.mask[:, :, None, None], cyc, 0.0)  # [B, L, T, G]
    batch, num_layers = cyc.shape[:2]
    member = jnp.asarray(layer_ranges(num_layers)[2])
    flat = jnp.moveaxis(cyc, 1, 0).reshape(num_layers, -1)
    out = jnp.dot(member, flat, precision=jax.lax.Precision.HIGHEST)
    return jnp.moveaxis(out.reshape(member.shape[0], batch, *cyc.shape[2:]), 1, 0)


class Plan(NamedTuple):
    """A partition + allocation found by :func:`dp` (a pytree; batched under
    ``vmap``, every field gains the leading axis).

    Attributes:
      cost: ``[]`` the optimum of the first cost (max or sum of c1 over
        stages); inf when no partition exists.
      tie_cost: ``[]`` the sum of c2 over the stages of that optimum.
      starts: ``[P]`` int32 first layer of each stage, in chain order.
      ends: ``[P]`` int32 one past the last layer of each stage.
      slots: ``[P]`` int32 pool slot of each stage.
      count: ``[]`` int32 number of stages; entries of starts, ends and
        slots past it are padding.
    """

    cost: Any
    tie_cost: Any
    starts: Any
    ends: Any
    slots: Any
    count: Any


def dp(c1, c2, depth, use_max) -> Plan:
    """Best partition of layers ``[0, depth)`` into stages on distinct slots.

    Lexicographic: minimises the max (``use_max``) or sum of ``c1`` over
    stages, then (ties within TIE_RTOL) the sum of ``c2``.

    Args:
      c1, c2: ``[L + 1, L + 1, P]`` cost of range ``[i, j)`` on slot d; inf
        where not allowed.
      depth: ``[]`` int32 number of real layers.
      use_max: ``[]`` bool, max (else sum) of c1.

    Returns:
      The optimum as a :class:`Plan`.
    """
    n1, _, num_slots = c1.shape
    nsub = 1 << num_slots
    has = np.array([[(u >> d) & 1 for u in range(nsub)] for d in range(num_slots)])
    has = jnp.asarray(has.astype(bool))[None]

    def without(f):  # [J, nsub] -> [J, P, nsub]: f[i, u & ~(1 << d)]
        out, rows = [], f.shape[0]
        for d in range(num_slots):
            x = f.reshape(rows, nsub >> (d + 1), 2, 1 << d)[:, :, :1, :]
            x = jnp.broadcast_to(x, (rows, nsub >> (d + 1), 2, 1 << d))
            out.append(x.reshape(rows, nsub))
        return jnp.stack(out, axis=1)

    def pick(v1, v2):  # lexicographic min over axis 0 -> (v1, v2, argmin)
        m1 = jnp.min(v1, axis=0)
        key = jnp.where(v1 <= m1 * (1.0 + TIE_RTOL), v2, _INF)
        return m1, jnp.min(key, axis=0), jnp.argmin(key, axis=0)

    def step(carry, j):
        f1, f2 = carry
        g1, g2 = without(f1), without(f2)  # [L+1, P, nsub]
        a1, a2 = c1[:, j, :, None], c2[:, j, :, None]
        v1 = jnp.where(use_max, jnp.maximum(g1, a1), g1 + a1)
        ok = has & (jnp.arange(n1) < j)[:, None, None] & jnp.isfinite(v1)
        v1 = jnp.where(ok, v1, _INF).reshape(n1 * num_slots, nsub)
        v2 = jnp.where(ok, g2 + a2, _INF).reshape(n1 * num_slots, nsub)
        b1, b2, arg = pick(v1, v2)
        return (f1.at[j].set(b1), f2.at[j].set(b2)), arg

    f1 = jnp.full((n1, nsub), _INF).at[0, 0].set(0.0)
    f2 = jnp.full((n1, nsub), _INF).at[0, 0].set(0.0)
    (f1, f2), args = jax.lax.scan(step, (f1, f2), jnp.arange(1, n1))  # [L, nsub]
    at_depth = (jnp.arange(n1) == depth)[:, None]
    last1 = jnp.min(jnp.where(at_depth, f1, _INF), axis=0).at[0].set(_INF)
    last2 = jnp.min(jnp.where(at_depth, f2, _INF), axis=0)
    v1, v2, best = pick(last1, jnp.where(jnp.isfinite(last1), last2, _INF))
    starts, ends, slots, live = [], [], [], []
    j, u = depth, best
    for _ in range(num_slots):  # backtrack, last stage first
        active = (j > 0) & jnp.isfinite(v1)
        at = (jnp.arange(n1 - 1)[:, None] == j - 1) & (jnp.arange(nsub) == u)
        a = jnp.sum(jnp.where(at, args, 0))
        i, d = a // num_slots, a % num_slots
        starts.append(i), ends.append(j), slots.append(d), live.append(active)
        u = jnp.where(active, u & ~(1 << d), u)
        j = jnp.where(active, i, j)
    count = jnp.sum(jnp.stack(live).astype(jnp.int32))
    order = jnp.clip(count - 1 - jnp.arange(num_slots), 0, num_slots - 1)
    stack = lambda xs: jnp.stack(xs)[order]
    return Plan(
        cost=v1,
        tie_cost=v2,
        starts=stack(starts),
        ends=stack(ends),
        slots=stack(slots),
        count=count,
    )


def least_power(time, power, ladder):
    """``[K, R, T]`` least power over rows with time <= each threshold.

    One pass: each row goes to the bucket of the first threshold >= its time,
    bucket minima by segment_min, then a running minimum over thresholds.
    """
    num_ranges, num_types, _ = time.shape
    steps = ladder.shape[0]
    bucket = jnp.searchsorted(ladder, time)  # [R, T, G]; K: above every threshold
    cell = jnp.arange(num_ranges * num_types).reshape(num_ranges, num_types, 1)
    key = cell * (steps + 1) + bucket
    least = jax.ops.segment_min(
        power.ravel(), key.ravel(), num_segments=num_ranges * num_types * (steps + 1)
    ).reshape(num_ranges, num_types, steps + 1)[..., :steps]
    return jnp.moveaxis(jax.lax.cummin(least, axis=2), 2, 0)


def bisect_min(sorted_t, pred):
    """Smallest value of ``sorted_t`` [N] where monotone ``pred`` holds (or inf)."""
    size = sorted_t.shape[0]

    def body(_, lohi):
        lo, hi = lohi
        mid = (lo + hi) // 2
        good = pred(sorted_t[jnp.minimum(mid, size - 1)])
        go = lo < hi
        return jnp.where(go & ~good, mid + 1, lo), jnp.where(go & good, mid, hi)

    iters = int(np.ceil(np.log2(size + 1))) + 1
    lo, _ = jax.lax.fori_loop(0, iters, body, (jnp.int32(0), jnp.int32(size)))
    return jnp.where(lo < size, sorted_t[jnp.minimum(lo, size - 1)], _INF)
