"""The optimum design of one architecture: steps 1-4 of the decomposition
in :mod:`cosearch.hardware.optimizer`, and the choice among its candidates.

:func:`solve_one` takes one padded architecture, its range cycles
``[R, T, G]`` (:func:`cosearch.hardware.partition.range_cycles`), the spec
limits and the design space's row tables
(:func:`cosearch.hardware.design_space.row_tables`) and returns its
:class:`Optimum`; :mod:`cosearch.hardware.optimizer` maps it over a batch
(chunks, devices) and compiles it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from cosearch.hardware import partition
from cosearch.hardware.architecture import ArchArrays, layer_dims
from cosearch.hardware.design import DesignArrays
from cosearch.hardware.design_space import DesignSpace
from cosearch.hardware.geometry import out_size
from cosearch.hardware.partition import TIE_RTOL
from cosearch.hardware.specs import (
    COMBINATION,
    ENERGY,
    FPS,
    LATENCY,
    MEETS,
    NO_FEASIBLE,
    meets_limits,
    objective_score,
)

_INF = jnp.inf


@struct.dataclass
class Optimum:
    """The best design of each architecture of a batch, with its figures.

    Attributes:
      design: :class:`DesignArrays` ``[B, ...]`` (S = pool size); tk of each
        stage = its largest kernel. num_stages = 0 where no design exists.
      throughput: ``[B]`` float32 images/s of the design.
      latency: ``[B]`` float32 seconds per image.
      power_w: ``[B]`` float32 W.
      gops_per_w: ``[B]`` float32 GOPS/W.
      feasible: ``[B]`` bool, some feasible design exists.
      meets_specs: ``[B]`` bool, the design meets every spec.
      pruned: ``[B]`` bool, no design meets the specs.
      prune_reason: ``[B]`` int32 code of :data:`specs.PRUNE_REASONS`.
      best_fps: ``[B]`` float32 highest throughput of any design, images/s
        (exact).
      best_latency: ``[B]`` float32 lowest latency of any design, s (exact).
      best_gops_per_w: ``[B]`` float32 highest GOPS/W found among designs
        meeting min_fps (energy objective or spec only, else NaN), within a
        factor ``energy_bound`` of the optimum.
      energy_bound: ``[B]`` float32 rho >= 1 of the energy reduction (1 when
        energy plays no part).
    """

    design: DesignArrays
    throughput: Any
    latency: Any
    power_w: Any
    gops_per_w: Any
    feasible: Any
    meets_specs: Any
    pruned: Any
    prune_reason: Any
    best_fps: Any
    best_latency: Any
    best_gops_per_w: Any
    energy_bound: Any


class _Tables(NamedTuple):
    """Per-architecture tables shared by the steps of :func:`solve_one`.

    Attributes:
      time: ``[R, T, G]`` stage seconds of (range, type, tiling row); inf
        where infeasible.
      power: ``[R, T, G]`` W of the same.
      feasible: ``[R, T, G]`` bool, the range is real and the row's buffers
        at the range's Tk (its largest kernel) fit the device's BRAM.
      kmax: ``[R]`` largest kernel of each range (its Tk).
      macs: ``[]`` multiply-accumulates per image.
      depth: ``[]`` int32 number of real layers.
      ri, rj: ``[R]`` first and one-past-last layer of each range (static).
      rindex: ``[L + 1, L + 1]`` int32 index of range ``[i, j)``.
      slot_type: ``[P]`` int32 device type of each pool slot.
    """

    time: Any
    power: Any
    feasible: Any
    kmax: Any
    macs: Any
    depth: Any
    ri: Any
    rj: Any
    rindex: Any
    slot_type: Any


class _Problem(NamedTuple):
    """One partition problem: minimise the max (``use_max``, ``[]`` bool) or
    the sum of ``cost`` over stages, ties by the sum of ``tie`` (both
    ``[R, T]`` per (range, device type))."""

    cost: Any
    tie: Any
    use_max: Any


class _Candidates(NamedTuple):
    """Designs :func:`_select` chooses from, ``[Q]`` per field (``[Q, P]``
    per stage); the figure names are the cost model's.

    Attributes:
      starts, ends, slots, count: the stages, as in :class:`partition.Plan`.
      rows: ``[Q, P]`` tiling row of each stage within its device type.
      types: ``[Q, P]`` device type of each stage.
      kmax: ``[Q, P]`` Tk of each stage.
      ok: ``[Q]`` bool, a design with every stage feasible.
      throughput, latency, power_w, gops_per_w: ``[Q]`` figures.
    """

    starts: Any
    ends: Any
    slots: Any
    count: Any
    rows: Any
    types: Any
    kmax: Any
    ok: Any
    throughput: Any
    latency: Any
    power_w: Any
    gops_per_w: Any


class _Reach(NamedTuple):
    """The best values reachable by any design of one architecture.

    Attributes:
      t0: bottleneck seconds of the fastest design (inf: none feasible).
      best_latency: lowest latency, s.
      best_gops_per_w: highest GOPS/W found (NaN when energy plays no part).
      energy_bound: rho of the energy reduction (1 when it is not used).
    """

    t0: Any
    best_latency: Any
    best_gops_per_w: Any
    energy_bound: Any


def _tables(arch: ArchArrays, cycles, rows, space: DesignSpace) -> _Tables:
    """Step 1: feasibility, power and stage seconds of every (range, type,
    tiling row) of one architecture; ``cycles`` ``[R, T, G]``."""
    num_layers = arch.kernel.shape[0]
    ri, rj, member, rindex = partition.layer_ranges(num_layers)
    bits = space.bits
    n, m, r, c, k, s = layer_dims(arch)
    depth = jnp.sum(arch.mask.astype(jnp.int32))
    ex = lambda v: v[:, None, None]
    k_real = jnp.where(arch.mask, k, 1)
    kmax = jnp.max(jnp.where(member > 0, k_real[None], 1), axis=1)  # [R]
    # BRAM (hence feasibility and power) at each range's Tk, as the model has it
    feas = rows["fits"][kmax - 1] & ex(jnp.asarray(rj) <= depth)  # [R, T, G]
    power = rows["power"][kmax - 1]  # [R, T, G] W
    ro, co = out_size(r, s), out_size(c, s)
    # Products of layer sizes in float32: in int32 they wrap past 2**31
    # (a 224x224 layer of 64 -> 128 channels has 3.7e9 MACs).
    f32 = jnp.float32
    m_f, ro_f, co_f = m.astype(f32), ro.astype(f32), co.astype(f32)
    out_bits = float(bits) * m_f * ro_f * co_f  # [L]
    link_bits = jnp.where(jnp.asarray(rj) == depth, 0.0, out_bits[rj - 1])  # [R]
    seconds = cycles * rows["inv_clock"] + ex(link_bits) * rows["inv_link"]
    k_f = k.astype(f32)
    layer_macs = m_f * n.astype(f32) * k_f * k_f * ro_f * co_f  # the cost model's order
    return _Tables(
        time=jnp.where(feas, seconds, _INF),
        power=power,
        feasible=feas,
        kmax=kmax,
        macs=jnp.sum(jnp.where(arch.mask, layer_macs, 0.0)),
        depth=depth,
        ri=ri,
        rj=rj,
        rindex=jnp.asarray(rindex),
        slot_type=jnp.asarray(np.array(space.slot_type)),
    )


def _type_pick(v1, v2=None):
    """Per (range, type): min v1 (ties by min v2) -> v1, v2, row [R, T]."""
    m1 = jnp.min(v1, axis=-1)
    if v2 is None:
        return m1, None, jnp.argmin(v1, axis=-1)
    key = jnp.where(v1 <= m1[..., None] * (1 + TIE_RTOL), v2, _INF)
    return m1, jnp.min(key, axis=-1), jnp.argmin(key, axis=-1)


def _within(best_t, thr):
    """The fastest tilings' seconds ``best_t``, ranges slower than thr barred."""
    return jnp.where(best_t <= thr * (1 + TIE_RTOL), best_t, _INF)


def _solve(tab: _Tables, problems, extra=None) -> partition.Plan:
    """The programmes of ``problems`` (a list of :class:`_Problem`), batched:
    a :class:`partition.Plan` ``[Q]``. ``extra``: more sum problems with
    ``tie = 0``, as one ``[Q', R, T]`` array, after them."""
    if not problems:
        problems = [_Problem(extra[0], jnp.zeros_like(extra[0]), jnp.bool_(False))]
        extra = extra[1:]
    c1, c2, use_max = (jnp.stack(x) for x in zip(*problems, strict=True))
    if extra is not None:
        c1 = jnp.concatenate([c1, extra])
        c2 = jnp.concatenate([c2, jnp.zeros_like(extra)])
        use_max = jnp.concatenate([use_max, jnp.zeros(len(extra), bool)])
    num_layers, num_slots = tab.rindex.shape[0] - 1, tab.slot_type.shape[0]
    full = jnp.full((num_layers + 1, num_layers + 1, num_slots), _INF)

    def one(c1, c2, use_max):
        dense = lambda x: full.at[tab.ri, tab.rj].set(x[:, tab.slot_type])
        return partition.dp(dense(c1), dense(c2), tab.depth, use_max)

    return jax.vmap(one)(c1, c2, use_max)


def _figures(tab: _Tables, plans: partition.Plan, rows) -> _Candidates:
    """Plans ``[Q]`` with a tiling row per stage ``rows`` ``[Q, P]`` -> their
    figures."""
    num_slots = tab.slot_type.shape[0]

    def one(starts, ends, slots, count, g):
        live = jnp.arange(num_slots) < count
        rid = tab.rindex[starts, ends]
        t = tab.slot_type[slots]
        st = jnp.where(live, tab.time[rid, t, g], 0.0)
        pw = jnp.where(live, tab.power[rid, t, g], 0.0)
        ok = (count > 0) & jnp.all(jnp.isfinite(st))
        fps = jnp.where(ok, 1.0 / jnp.where(ok, jnp.max(st), 1.0), 0.0)
        watts = jnp.sum(pw)
        eff = jnp.where(ok, 2.0 * tab.macs * fps / jnp.where(ok, watts, 1.0) / 1e9, 0)
        return _Candidates(
            starts=starts,
            ends=ends,
            slots=slots,
            count=count,
            rows=g,
            types=t,
            kmax=tab.kmax[rid],
            ok=ok,
            throughput=fps,
            latency=jnp.where(ok, jnp.sum(st), _INF),
            power_w=watts,
            gops_per_w=eff,
        )

    return jax.vmap(one)(plans.starts, plans.ends, plans.slots, plans.count, rows)


def _tabled(tab: _Tables, plans: partition.Plan, tables) -> _Candidates:
    """:func:`_figures`, each stage's row read from per-(range, type) tables
    ``[Q, R, T]``."""
    rid = tab.rindex[plans.starts, plans.ends]  # [Q, P]
    q = jnp.arange(rid.shape[0])[:, None]
    return _figures(tab, plans, tables[q, rid, tab.slot_type[plans.slots]])


def solve_one(
    arch: ArchArrays, cycles, limits, rows, *, space, objective, active, steps
) -> Optimum:
    """The optimum for one padded architecture (see
    :func:`cosearch.hardware.optimizer.optimize`).

    ``cycles``: ``[R, T, G]`` from
    :func:`cosearch.hardware.partition.range_cycles`.
    """
    min_fps, max_lat = limits[0], limits[1]
    has_fps, has_lat, has_eff = active
    energy = has_eff or objective == "energy"
    # 1. Feasibility, power and stage seconds of every (range, type, tiling).
    tab = _tables(arch, cycles, rows, space)

    # 2. Fastest tiling per (range, type); ties by power where it matters.
    lexi = objective == "latency" or energy
    best_t, best_p, best_row = _type_pick(tab.time, tab.power if lexi else None)
    zeros = jnp.zeros_like(best_t)
    best_p = zeros if best_p is None else best_p
    t_fps = jnp.where(has_fps, 1.0 / jnp.maximum(min_fps, 1e-30), _INF)
    yes, no = jnp.bool_(True), jnp.bool_(False)
    # 3. First round: max throughput (bottleneck t0), min latency, ...
    first = [_Problem(best_t, zeros, yes), _Problem(best_t, best_p, no)]
    tables = [best_row, best_row]
    if objective == "latency" and has_fps:
        first.append(_Problem(_within(best_t, t_fps), best_p, no))
        tables.append(best_row)
    if energy:  # ... and least power
        p_any, _, p_row = _type_pick(jnp.where(tab.feasible, tab.power, _INF))
        first.append(_Problem(p_any, zeros, no))
        tables.append(p_row)
    plans1 = _solve(tab, first)
    cands = [_tabled(tab, plans1, jnp.stack(tables))]
    t0, best_lat = plans1.cost[0], plans1.cost[1]
    # 4. Second round, from t0.
    second, tables = [], []
    rho, ladder = jnp.float32(1.0), None
    if objective == "throughput":
        t_thr = t0
        if has_lat:  # smallest candidate bottleneck with min latency <= max
            fastest = lambda thr: _Problem(_within(best_t, thr), zeros, no)
            pred = lambda thr: _solve(tab, [fastest(thr)]).cost[0] <= max_lat
            t_thr = partition.bisect_min(jnp.sort(best_t.ravel()), pred)
            second.append(fastest(t_thr))
            tables.append(best_row)
        # Ties by power: least-power design with every stage <= t_thr.
        lim = t_thr * (1 + TIE_RTOL)
        pw, pw_t, pw_row = _type_pick(
            jnp.where(tab.time <= lim, tab.power, _INF), tab.time
        )
        second.append(_Problem(pw, pw_t, no))
        tables.append(pw_row)
    if energy:  # least-power design under each of K thresholds
        p0, p_lb = cands[0].power_w[0], plans1.cost[-1]
        rho = jnp.where(
            jnp.isfinite(t0), jnp.maximum(p0 / p_lb, 1.0) ** (1.0 / (steps - 1)), 1.0
        )
        ladder = jnp.minimum(t0 * rho ** jnp.arange(steps), t_fps) * (1 + TIE_RTOL)
        least = partition.least_power(tab.time, tab.power, ladder)  # [K, R, T]
    if second or energy:
        plans2 = _solve(tab, second, least if energy else None)
        q_tab = len(tables)
        if q_tab:
            head = jax.tree.map(lambda x: x[:q_tab], plans2)
            cands.append(_tabled(tab, head, jnp.stack(tables)))
        if energy:
            tail = jax.tree.map(lambda x: x[q_tab:], plans2)
            rid = tab.rindex[tail.starts, tail.ends]  # [K, P]
            t_of = tab.slot_type[tail.slots]
            ok = tab.time[rid, t_of] <= ladder[:, None, None]  # [K, P, G]
            g = jnp.argmin(jnp.where(ok, tab.power[rid, t_of], _INF), axis=-1)
            cands.append(_figures(tab, tail, g))
    reach = _Reach(
        t0=t0,
        best_latency=best_lat,
        best_gops_per_w=(
            jnp.max(cands[-1].gops_per_w) if energy else jnp.float32(jnp.nan)
        ),
        energy_bound=rho,
    )
    return _select(
        cands,
        reach,
        objective=objective,
        limits=limits,
        active=active,
        table=rows["table"],
        depth=tab.depth,
    )


def _select(
    cands: list[_Candidates], reach: _Reach, *, objective, limits, active, table, depth
) -> Optimum:
    """Best candidate under the objective among those meeting the specs
    (ties: lower power), as an :class:`Optimum` with the prune reason.

    ``table``: ``[T, G, 7]`` tilings by type (:func:`row_tables`); ``depth``:
    the architecture's real layers.
    """
    flat = jax.tree.map(lambda *xs: jnp.concatenate(xs), *cands)
    min_fps, max_lat, min_eff = limits[0], limits[1], limits[2]
    meets = meets_limits(
        flat.ok, flat.throughput, flat.latency, flat.gops_per_w, limits
    )
    pool = jnp.where(jnp.any(meets), meets, flat.ok)
    score = jnp.where(pool, objective_score(flat, objective), -_INF)
    top = jnp.max(score)
    tie = pool & (score >= top - jnp.abs(top) * TIE_RTOL)
    i = jnp.argmin(jnp.where(tie, flat.power_w, _INF))
    pick = jax.tree.map(lambda v: v[i], flat)

    feasible = jnp.isfinite(reach.t0)
    live = (jnp.arange(pick.slots.shape[0]) < pick.count) & feasible
    tiling = table[pick.types, pick.rows]  # [P, 7]
    tiling = jnp.concatenate([tiling[:, :4], pick.kmax[:, None], tiling[:, 4:]], 1)
    design = DesignArrays(
        num_stages=jnp.where(feasible, pick.count, 0).astype(jnp.int32),
        stage_end=jnp.where(live, pick.ends, depth).astype(jnp.int32),
        device=jnp.where(live, pick.slots, 0).astype(jnp.int32),
        tiling=jnp.where(live[:, None], tiling, 1).astype(jnp.int32),
    )
    meets_specs = feasible & meets[i]
    best_fps = jnp.where(feasible, 1.0 / jnp.where(feasible, reach.t0, 1.0), 0.0)
    reason = jnp.select(
        [
            meets_specs,
            ~feasible,
            best_fps < min_fps,
            reach.best_latency > max_lat,
            active[2] & (reach.best_gops_per_w < min_eff),
        ],
        [MEETS, NO_FEASIBLE, FPS, LATENCY, ENERGY],
        COMBINATION,
    )
    return Optimum(
        design=design,
        throughput=pick.throughput,
        latency=jnp.where(feasible, pick.latency, _INF),
        power_w=jnp.where(feasible, pick.power_w, 0.0),
        gops_per_w=pick.gops_per_w,
        feasible=feasible,
        meets_specs=meets_specs,
        pruned=~meets_specs,
        prune_reason=reason.astype(jnp.int32),
        best_fps=best_fps,
        best_latency=reach.best_latency,
        best_gops_per_w=reach.best_gops_per_w,
        energy_bound=reach.energy_bound,
    )
