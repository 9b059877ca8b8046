"""Batch sharding of the cost model over all local devices (docs/design.md section 9).

One process drives every local device: the batch axis of the (architecture,
design) arrays is split over a 1-D :class:`jax.sharding.Mesh` (axis
``"batch"``) and the platform is replicated.
:func:`cosearch.hardware.cost_model.evaluate` needs no change: ``jit`` follows
the input shardings, and since every pair is computed on its own (no
reduction over the batch), each device runs its slice with no communication
and the results equal the single-device ones.

The design optimizer (:func:`cosearch.hardware.optimizer.optimize` with
``devices``) uses :func:`padded_mesh` instead: its per-architecture work is
large (milliseconds), so every device is used for any batch size by padding
the batch up to a multiple of the device count (repeating the last
architecture) and cutting the result back.

On CPU, N host devices come from
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` set before JAX is
imported (the benchmark launcher does this); with one device these helpers
are a plain ``device_put``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from cosearch.hardware.architecture import ArchArrays
from cosearch.hardware.cost_model import CostResult, evaluate
from cosearch.hardware.design import DesignArrays
from cosearch.hardware.platform_arrays import PlatformArrays

BATCH_AXIS = "batch"

# Fewest pairs per device for which fast_explore splits its scoring batch:
# smaller blocks gain nothing (placement and dispatch dominate). Results are
# the same either way.
SCORE_MIN_PER_DEVICE = 1024


def batch_mesh(
    batch: int,
    devices: Sequence[jax.Device] | None = None,
    min_per_device: int = 1,
) -> Mesh:
    """A 1-D mesh over as many devices as evenly divide the batch.

    Args:
      batch: B, number of pairs (the sharded axis length).
      devices: devices to use; default ``jax.local_devices()``.
      min_per_device: fewest pairs worth a device of their own; small batches
        run faster whole on one device than split (dispatch overhead).

    Returns:
      A :class:`Mesh` with axis ``"batch"`` over the first n devices, n the
      largest count <= len(devices) that divides ``batch`` and leaves each
      device at least ``min_per_device`` pairs (n = 1 if none does).

    Raises:
      ValueError: if ``batch`` or ``min_per_device`` is not positive, or no
        device is given.
    """
    if batch < 1:
        raise ValueError(f"batch must be positive, got {batch}")
    if min_per_device < 1:
        raise ValueError(f"min_per_device must be positive, got {min_per_device}")
    devices = list(jax.local_devices() if devices is None else devices)
    if not devices:
        raise ValueError("no device to shard the batch over")
    count = max(
        n
        for n in range(1, len(devices) + 1)
        if batch % n == 0 and (n == 1 or batch // n >= min_per_device)
    )
    return Mesh(np.asarray(devices[:count]), (BATCH_AXIS,))


def padded_mesh(
    batch: int, devices: Sequence[jax.Device] | None = None
) -> tuple[Mesh, int]:
    """A 1-D mesh over min(batch, len(devices)) devices and the padded batch.

    Padding instead of :func:`batch_mesh`'s divisor rule: with n devices the
    busiest device of any split holds at least ceil(B / n) items, and
    padding B up to a multiple of n gives exactly that, so no split is
    faster; the divisor rule falls back to fewer devices (one for a prime B).
    The cost is at most n - 1 repeated items, which are cut off again.

    Args:
      batch: B, the sharded axis length.
      devices: devices to use; default ``jax.local_devices()``.

    Returns:
      (mesh with axis ``"batch"`` over the first min(B, len(devices))
      devices, padded length: the least multiple of the mesh size >= B).

    Raises:
      ValueError: if ``batch`` is not positive or no device is given.
    """
    if batch < 1:
        raise ValueError(f"batch must be positive, got {batch}")
    devices = list(jax.local_devices() if devices is None else devices)
    if not devices:
        raise ValueError("no device to shard the batch over")
    count = min(batch, len(devices))
    return Mesh(np.asarray(devices[:count]), (BATCH_AXIS,)), -(-batch // count) * count


def pad_batch(tree: Any, size: int) -> Any:
    """Every leaf ``[B, ...]`` padded to ``[size, ...]`` by repeating its last row.

    Leaves come back as NumPy arrays (host side, ready for
    :func:`shard_batch`); ``size`` >= B.
    """

    def pad(x):
        x = np.asarray(x)
        extra = size - x.shape[0]
        if extra < 0:
            raise ValueError(f"cannot pad a batch of {x.shape[0]} to {size}")
        return x if extra == 0 else np.concatenate([x, np.repeat(x[-1:], extra, 0)])

    return jax.tree.map(pad, tree)


def shard_batch(tree: Any, mesh: Mesh) -> Any:
    """Places every leaf of ``tree`` with its leading (batch) axis over ``mesh``.

    Args:
      tree: pytree of arrays ``[B, ...]`` (NumPy or JAX), e.g. ArchArrays.
      mesh: from :func:`batch_mesh`.

    Returns:
      The same pytree of JAX arrays sharded ``P("batch")``.
    """
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec(BATCH_AXIS)))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Places every leaf of ``tree`` whole on every device of ``mesh``."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def place_pairs(
    arch: ArchArrays,
    design: DesignArrays,
    platform: PlatformArrays,
    devices: Sequence[jax.Device] | None = None,
    min_per_device: int = 1,
) -> tuple[ArchArrays, DesignArrays, PlatformArrays]:
    """Batch-sharded pairs and a replicated platform, ready for ``evaluate``.

    Args:
      arch: :class:`ArchArrays` with leading ``[B]``.
      design: :class:`DesignArrays` with leading ``[B]``.
      platform: :class:`PlatformArrays` ``[P]``.
      devices: default ``jax.local_devices()``.
      min_per_device: see :func:`batch_mesh`.

    Returns:
      (arch, design, platform) as JAX arrays on the mesh of
      :func:`batch_mesh`.
    """
    mesh = batch_mesh(int(np.shape(arch.kernel)[0]), devices, min_per_device)
    arch, design = shard_batch((arch, design), mesh)
    return arch, design, replicate(platform, mesh)


def evaluate_sharded(
    arch: ArchArrays,
    design: DesignArrays,
    platform: PlatformArrays,
    *,
    bits: int = 16,
    enforce_bram: bool = True,
    devices: Sequence[jax.Device] | None = None,
    min_per_device: int = 1,
) -> CostResult:
    """:func:`~cosearch.hardware.cost_model.evaluate` with the batch over devices.

    Same arguments and result as ``evaluate`` (identical values), plus
    ``devices`` and ``min_per_device`` of :func:`batch_mesh`; the result's
    arrays stay sharded along ``[B]``. To time or loop, place the inputs once
    with :func:`place_pairs` and call ``evaluate`` on them directly.
    """
    arch, design, platform = place_pairs(
        arch, design, platform, devices, min_per_device
    )
    return evaluate(arch, design, platform, bits=bits, enforce_bram=enforce_bram)
