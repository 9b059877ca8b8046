"""The best multi-FPGA design of each architecture of a batch (fast exploration).

For a batch of padded architectures ``[B, L]``, a platform (pool of P FPGAs),
a per-device tiling grid, an objective and specs, :func:`optimize` returns the
best feasible design of each architecture over the whole declared design
space (:mod:`cosearch.hardware.design_space`), with the design's figures and
whether it meets the specs. One jitted program, ``vmap`` over the batch;
shapes are fixed per (space, L, B). With ``devices``, the batch is split over
a 1-D mesh of local devices (``jax.shard_map``, docs/design.md section 9), same
results.

Decomposition (exact, docs/design.md section 4 semantics):

1. Layer cycles of every kept tiling (T device types, each padded to G
   rows), summed over every layer range ``[i, j)`` -> ``[R, T, G]``
   (:func:`cosearch.hardware.partition.range_cycles`). Tk of a range = its
   largest kernel; BRAM (hence feasibility and power) follows from it.
   Stage seconds of (range, tiling) = cycles / clock + link seconds of the
   range's last layer (none when the range ends the network).
2. Per (range, device type): the fastest feasible tiling (ties: lower power).
   Any design can switch each stage to that tiling without lowering
   throughput or raising latency, so for those two objectives the search
   reduces to partition + allocation.
3. Partition + allocation: the exact dynamic programme over (layers
   covered, subset of pool slots used) of :func:`cosearch.hardware.partition.dp`.
4. Ties by lower power, exactly: throughput optimum T* -> second programme
   minimising total power with every stage <= T* (each stage takes its
   least-power tiling within T*); latency -> lexicographic (seconds, W).
   "Tied" means within a relative 1e-5 (TIE_RTOL; float32 sums).

Specs: a minimum throughput bounds every stage by 1 / min_fps; with a
maximum latency and the throughput objective, T* is found by bisection over
the candidate stage times (the predicate "some design with every stage <= T
has latency <= max" is monotone in T), which is exact; the power tie-break
is then best effort (the least-power design within T* if it meets the
latency spec, else the least-latency one).

Energy efficiency (objective or min_gops_per_w spec) is a ratio,
2 MACs / (T P), and is handled by a documented reduction, not exactly: K
bottleneck thresholds ``T_k = T0 * rho**k`` from the unconstrained throughput
optimum T0 up to ``T0 * P0 / P_lb`` (P0: power of the T0 design; P_lb: least
power of any design; no design beyond that top can be more efficient), each
clipped to 1 / min_fps. For each T_k a programme gives the least-power design
with every stage <= T_k; the best candidate is kept. Without a latency spec
the result is within a factor ``rho`` of the optimum efficiency (returned as
``energy_bound``); in practice the gap measured against brute force is 0 on
the small test cases. With a latency spec as well, candidates violating it
are dropped (no bound claimed).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from cosearch.hardware import partition, sharding
from cosearch.hardware.architecture import ArchArrays
from cosearch.hardware.design_space import DesignSpace, design_space, row_tables
from cosearch.hardware.partition import TIE_RTOL
from cosearch.hardware.solve import Optimum, solve_one
from cosearch.hardware.specs import (
    Objective,
    Specs,
    check_objective,
)

__all__ = [
    "BATCH_AXIS",
    "CHUNK",
    "ENERGY_STEPS",
    "TIE_RTOL",
    "DesignSpace",
    "Optimum",
    "design_space",
    "optimize",
]

ENERGY_STEPS = 48  # default number K of energy thresholds
CHUNK = 16  # architectures per inner vmap (lax.map batch size)
_INF = jnp.inf
BATCH_AXIS = sharding.BATCH_AXIS


def _runner(space: DesignSpace, objective: str, active, steps: int, chunk: int):
    """The traced function ``run(arch [B], limits, rows) -> Optimum [B]``."""
    one = functools.partial(
        solve_one, space=space, objective=objective, active=active, steps=steps
    )

    def part(arch, limits, rows):  # one chunk [c]
        cycles = partition.range_cycles(arch, rows)
        return jax.vmap(one, in_axes=(0, 0, None, None))(arch, cycles, limits, rows)

    def run(arch, limits, rows):
        batch = arch.mask.shape[0]
        if batch <= chunk:
            return part(arch, limits, rows)
        pad = -batch % chunk  # whole chunks only: one loop body to compile
        arch = jax.tree.map(
            lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)]).reshape(
                -1, chunk, *x.shape[1:]
            ),
            arch,
        )
        out = jax.lax.map(lambda a: part(a, limits, rows), arch)
        return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:])[:batch], out)

    return run


@functools.lru_cache(maxsize=64)
def _program(space: DesignSpace, objective: str, active, steps: int, chunk: int):
    """The single-device program (``devices=None``)."""
    return jax.jit(_runner(space, objective, active, steps, chunk))


@functools.lru_cache(maxsize=64)
def _sharded_program(
    space: DesignSpace,
    objective: str,
    active,
    steps: int,
    chunk: int,
    devices: tuple[jax.Device, ...],
):
    """The program over a 1-D mesh of ``devices`` (the batch axis split).

    ``run`` (chunked ``lax.map`` included) runs on each device's block of the
    padded batch with no communication: arch arrays ``P("batch")``, limits
    and rows replicated. ``check_vma=False``: the loops of the programme
    carry values that start replicated and become per-device, which the
    type check refuses, and there is no collective for it to guard. The
    padding is cut off by :func:`_cut`, so every batch size padded to the
    same length shares this program.
    """
    mesh = Mesh(np.asarray(devices), (BATCH_AXIS,))
    split, whole = PartitionSpec(BATCH_AXIS), PartitionSpec()
    return jax.jit(
        jax.shard_map(
            _runner(space, objective, active, steps, chunk),
            mesh=mesh,
            in_specs=(split, whole, whole),
            out_specs=split,
            check_vma=False,
        )
    )


@functools.partial(jax.jit, static_argnames="batch")
def _cut(tree, *, batch: int):
    """The first ``batch`` rows of every leaf (one dispatch for the pytree)."""
    return jax.tree.map(lambda x: x[:batch], tree)


def optimize(
    arch: ArchArrays,
    space: DesignSpace,
    objective: Objective = "throughput",
    specs: Specs | None = None,
    *,
    energy_steps: int = ENERGY_STEPS,
    chunk: int = CHUNK,
    devices: Sequence[jax.Device] | None = None,
) -> Optimum:
    """The best feasible design of each architecture of a batch.

    Exact for the throughput and latency objectives, with or without
    min_fps / max_latency_ms specs, ties broken by lower power (exact when no
    latency spec is set with the throughput objective; otherwise the least
    power among the candidates kept). Energy efficiency (objective or
    min_gops_per_w spec) uses the threshold reduction of the module docstring,
    within a factor ``energy_bound`` of the optimum.

    Args:
      arch: :class:`ArchArrays` with a leading ``[B]`` axis (``[B, L]``
        layers, ``[B, 3]`` input); one compiled program per (B, L).
      space: from :func:`design_space`.
      objective: "throughput" (max images/s), "latency" (min s) or "energy"
        (max GOPS/W).
      specs: optional :class:`Specs`; the presence of each spec is static
        (one program per combination), its value is not.
      energy_steps: K thresholds of the energy reduction (>= 2).
      chunk: architectures processed together inside the program (a
        ``lax.map`` batch size that keeps the working set in cache).
      devices: None (default): one jitted program on the default device.
        Otherwise the batch is split over a 1-D mesh (axis ``"batch"``) of
        the first min(B, len(devices)) of these devices
        (:func:`cosearch.hardware.sharding.padded_mesh`): B is padded to a
        multiple of the device count by repeating the last architecture,
        each device runs the same chunked program on its own block
        (``jax.shard_map``, no communication) and the padding is cut off.
        Every architecture is optimised on its own, so the result equals the
        single-device one exactly (tested bit for bit on CPU host devices);
        its arrays are left on the mesh. The arch arrays go through the host
        (padding). One compiled program per (space, objective, active specs,
        steps, chunk, device tuple, padded B, L).

    Returns:
      An :class:`Optimum` with a leading ``[B]`` axis. Where no design meets
      the specs, the design is the objective's best overall and ``pruned`` is
      set with ``prune_reason``.
    """
    check_objective(objective)
    specs = specs or Specs()
    if energy_steps < 2:
        raise ValueError(f"energy_steps must be >= 2, got {energy_steps}")
    key = (space, objective, specs.active, int(energy_steps), int(chunk))
    if devices is None:
        limits = jnp.asarray(specs.limits(), jnp.float32)
        return _program(*key)(arch, limits, _device_rows(space))
    batch = int(np.shape(arch.mask)[0])
    mesh, padded = sharding.padded_mesh(batch, devices)
    mesh_devices = tuple(mesh.devices.flat)
    placed = sharding.shard_batch(sharding.pad_batch(arch, padded), mesh)
    limits = sharding.replicate(np.asarray(specs.limits(), np.float32), mesh)
    rows = _replicated_rows(space, mesh_devices)
    out = _sharded_program(*key, mesh_devices)(placed, limits, rows)
    return out if padded == batch else _cut(out, batch=batch)


@functools.lru_cache(maxsize=64)
def _device_rows(space: DesignSpace) -> dict[str, jax.Array]:
    return {k: jnp.asarray(v) for k, v in row_tables(space).items()}


@functools.lru_cache(maxsize=64)
def _replicated_rows(
    space: DesignSpace, devices: tuple[jax.Device, ...]
) -> dict[str, jax.Array]:
    mesh = Mesh(np.asarray(devices), (sharding.BATCH_AXIS,))
    return sharding.replicate(row_tables(space), mesh)
