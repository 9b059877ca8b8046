"""The hardware side of a pair: a multi-FPGA design and its arrays.

Host side: frozen, hashable dataclasses (:class:`Stage`, :class:`Design`).
Fast path: fixed-shape padded int arrays (:class:`DesignArrays`) that the
jitted cost model and the optimizer take, with a leading batch axis
``[B, S]`` when batched. The network a design runs is
:class:`cosearch.hardware.architecture.Architecture`.

Shapes: S = padded number of stages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
from flax import struct

from cosearch.hardware.layer_model import TILING_FIELDS, Tiling


@dataclasses.dataclass(frozen=True)
class Stage:
    """One pipeline stage: layers ``first..last`` (inclusive) on pool slot ``device``.

    Attributes:
      first: index of the stage's first layer (0-based).
      last: index of its last layer (inclusive).
      device: index of the FPGA in the platform's pool.
      tiling: the accelerator of that FPGA.
    """

    first: int
    last: int
    device: int
    tiling: Tiling


@dataclasses.dataclass(frozen=True)
class Design:
    """A multi-FPGA design: consecutive stages covering all layers."""

    stages: tuple[Stage, ...]

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def validate(self, num_layers: int, pool_size: int) -> None:
        """Raises ValueError unless stages are contiguous, cover all layers and
        use distinct pool slots."""
        if not self.stages:
            raise ValueError("a design needs at least one stage")
        if self.num_stages > pool_size:
            raise ValueError(
                f"{self.num_stages} stages but the platform has {pool_size} FPGAs"
            )
        expect = 0
        for i, st in enumerate(self.stages):
            if st.first != expect or st.last < st.first:
                raise ValueError(
                    f"stage {i} covers layers {st.first}..{st.last}; expected it to "
                    f"start at layer {expect} and be non-empty"
                )
            expect = st.last + 1
            if not 0 <= st.device < pool_size:
                raise ValueError(
                    f"stage {i}: device slot {st.device} not in pool of {pool_size}"
                )
        if expect != num_layers:
            raise ValueError(
                f"stages cover layers 0..{expect - 1} but the architecture has "
                f"{num_layers} layers"
            )
        devices = [st.device for st in self.stages]
        if len(set(devices)) != len(devices):
            raise ValueError(f"stages reuse an FPGA of the pool: slots {devices}")


@struct.dataclass
class DesignArrays:
    """Padded design(s); add a leading ``[B]`` axis for a batch.

    Attributes:
      num_stages: ``[]`` int32 number of real stages m.
      stage_end: ``[S]`` int32 one past the last layer of each stage; padded
        stages repeat the number of layers.
      device: ``[S]`` int32 pool slot of each stage (0 where padded).
      tiling: ``[S, 8]`` int32 (tm, tn, tr, tc, tk, wp, ip, op) (1 where padded).
    """

    num_stages: Any
    stage_end: Any
    device: Any
    tiling: Any


def design_arrays(
    designs: Sequence[Design],
    num_layers: Sequence[int] | int,
    max_stages: int,
    xp=np,
) -> DesignArrays:
    """Batched, padded arrays ``[B, S]`` of ``designs``.

    Args:
      designs: the designs (not validated here; the cost model marks an
        invalid one infeasible).
      num_layers: depth of each design's architecture (for padding stage_end).
      max_stages: S, usually the platform's pool size.
    """
    b = len(designs)
    depth = np.broadcast_to(np.asarray(num_layers, np.int32), (b,))
    num_stages = np.zeros((b,), np.int32)
    stage_end = np.repeat(depth[:, None], max_stages, axis=1).astype(np.int32)
    device = np.zeros((b, max_stages), np.int32)
    tiling = np.ones((b, max_stages, len(TILING_FIELDS)), np.int32)
    for i, d in enumerate(designs):
        if d.num_stages > max_stages:
            raise ValueError(f"design {i} has {d.num_stages} > {max_stages} stages")
        num_stages[i] = d.num_stages
        for j, st in enumerate(d.stages):
            stage_end[i, j] = st.last + 1
            device[i, j] = st.device
            tiling[i, j] = st.tiling.as_tuple()
    return DesignArrays(
        *(xp.asarray(v) for v in (num_stages, stage_end, device, tiling))
    )


def designs_from_arrays(arrays: DesignArrays) -> list[Design]:
    """Host records from batched :class:`DesignArrays` (inverse of design_arrays)."""
    num_stages = np.asarray(arrays.num_stages)
    stage_end = np.asarray(arrays.stage_end)
    device = np.asarray(arrays.device)
    tiling = np.asarray(arrays.tiling)
    out = []
    for i in range(num_stages.shape[0]):
        stages, first = [], 0
        for j in range(int(num_stages[i])):
            last = int(stage_end[i, j]) - 1
            stages.append(
                Stage(first, last, int(device[i, j]), Tiling(*map(int, tiling[i, j])))
            )
            first = last + 1
        out.append(Design(tuple(stages)))
    return out
