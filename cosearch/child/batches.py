"""How an episode's children become batches: grouped by stride pattern,
padded to a few sizes, placed on one device or split over several.

* Children of one stride pattern (hence one depth) can share a program
  (:func:`group_key`); K is padded to one of :data:`BATCH_SIZES` (filler
  children repeat the first and are discarded), so a search compiles a
  handful of programs.
* On several devices one program holds the batch, its children axis split
  over them (``jax.shard_map`` over a 1-D mesh, :class:`Placement`): each
  device trains ``K / D`` children, a child's computation never crosses
  devices, so the program exchanges nothing, and it is compiled once for
  all of them.
* :func:`deal` splits an episode's groups between processes and devices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from cosearch.hardware.architecture import Architecture

# Children per compiled program: a batch of K children runs in the smallest
# of these that holds it (larger batches are split into chunks of the last).
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)


def padded_size(count: int, devices: int = 1) -> int:
    """The program size that holds ``count`` children split over ``devices``:
    ``devices`` times the smallest of :data:`BATCH_SIZES` that holds a
    device's share (at most the largest)."""
    share = -(-count // max(devices, 1))
    for size in BATCH_SIZES:
        if share <= size:
            return size * max(devices, 1)
    return BATCH_SIZES[-1] * max(devices, 1)


def eval_images(
    eval_batch_size: int, size: int, devices: int = 1, batch_size: int = 1
) -> int:
    """Validation images per evaluation step of a batch of ``size`` children
    over ``devices``.

    ``eval_batch_size`` image-evaluations per device, shared by its children,
    so that evaluation's memory does not grow with K; but never fewer images
    than a training step's ``batch_size`` (capped at ``eval_batch_size``):
    the training step already holds that many per child, with gradients, so
    this costs no more memory and keeps the evaluation steps few.
    """
    share = int(eval_batch_size) * max(devices, 1) // max(size, 1)
    return max(1, share, min(int(batch_size), int(eval_batch_size)))


def group_key(arch: Architecture) -> tuple[int, ...]:
    """Children with equal keys (the stride of every layer, hence the depth)
    can share a program."""
    return tuple(s for _, _, s in arch.layers)


# The children axis of a batch split over several devices.
CHILDREN_AXIS = "children"


class Placement(NamedTuple):
    """Where a batch's arrays live.

    Attributes:
      devices: the devices (empty: JAX's default device, uncommitted).
      mesh: the devices as a 1-D mesh over :data:`CHILDREN_AXIS` (None for
        fewer than two).
      children: the sharding of arrays with a leading children axis.
      replicated: the sharding of arrays every child reads (evaluation data).
    """

    devices: tuple[Any, ...]
    mesh: Any
    children: Any
    replicated: Any

    @classmethod
    def of(cls, devices) -> Placement:
        """The placement on ``devices``: None (the default device), one
        device, or a sequence of devices (the children axis split over them).
        """
        if devices is None:
            return cls((), None, None, None)
        if not isinstance(devices, Sequence):
            devices = (devices,)
        devices = tuple(devices)
        if not devices:
            return cls((), None, None, None)
        if len(devices) == 1:
            one = jax.sharding.make_single_device_sharding(devices[0])
            return cls(devices, None, one, one)
        mesh = jax.sharding.Mesh(np.asarray(devices), (CHILDREN_AXIS,))
        spec = jax.sharding.PartitionSpec
        return cls(
            devices,
            mesh,
            jax.sharding.NamedSharding(mesh, spec(CHILDREN_AXIS)),
            jax.sharding.NamedSharding(mesh, spec()),
        )

    def split(self, fn, shared: int = 0):
        """``fn`` (vmapped over children) run by every device on its own
        children: the leading children axis of each argument (but the last
        ``shared``, which every device reads whole) and of each output is
        split over the mesh, and nothing crosses devices. ``fn`` itself
        without a mesh."""
        if self.mesh is None:
            return fn
        spec = jax.sharding.PartitionSpec
        own, whole = spec(CHILDREN_AXIS), spec()

        def split_fn(*args):
            specs = (own,) * (len(args) - shared) + (whole,) * shared
            return jax.shard_map(fn, mesh=self.mesh, in_specs=specs, out_specs=own)(
                *args
            )

        return split_fn

    @property
    def count(self) -> int:
        """Devices the children axis is split over (1 for the default)."""
        return max(len(self.devices), 1)

    @property
    def default(self):
        """The device eager work goes to (None: JAX's default)."""
        return self.devices[0] if len(self.devices) == 1 else None


class Dealt(NamedTuple):
    """An episode's children as batches (tuples of indices).

    Attributes:
      split: batches each run by one process on all its local devices, the
        children axis split over them (one program, compiled once).
      single: batches each run on one device, one thread per device, as
        single children are.
    """

    split: list[tuple[int, ...]]
    single: list[tuple[int, ...]]


def deal(
    archs: Sequence[Architecture],
    indices: Sequence[int],
    devices: int = 1,
    processes: int = 1,
) -> Dealt:
    """``indices`` of ``archs`` as batches for ``processes`` processes of
    ``devices`` local devices each.

    Children are grouped by stride pattern (:func:`group_key`, in first-seen
    order). A group with at least ``devices`` (> 1) children fills the
    devices of a process: it is split into ``min(processes, ceil(n /
    devices))`` contiguous, near-equal batches, each split over one process's
    devices (:attr:`Dealt.split`; a batch short of a multiple of
    ``devices`` runs with filler children). A smaller group (or any group on
    one device per process) is split into at most ``devices * processes``
    batches, one per device (:attr:`Dealt.single`), so that groups too small
    to fill a process's devices run side by side. Which batch a child lands
    in does not change its result (up to float rounding; see the module
    doc).
    """
    devices, processes = max(int(devices), 1), max(int(processes), 1)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i in indices:
        groups.setdefault(group_key(archs[i]), []).append(i)
    out = Dealt([], [])
    for members in groups.values():
        if devices > 1 and len(members) >= devices:
            into, parts = out.split, min(processes, -(-len(members) // devices))
        else:
            into, parts = out.single, min(devices * processes, len(members))
        for part in np.array_split(np.asarray(members), parts):
            into.append(tuple(int(i) for i in part))
    return out
