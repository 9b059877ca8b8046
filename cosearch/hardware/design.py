"""Host records for an architecture and a multi-FPGA design, and their arrays.

Host side: frozen, hashable dataclasses (:class:`Architecture`,
:class:`Stage`, :class:`Design`). Fast path: fixed-shape padded int arrays
(:class:`ArchArrays`, :class:`DesignArrays`) that the jitted cost model and
the optimizer take, with a leading batch axis ``[B, ...]`` when batched.

Shapes: L = padded number of layers, S = padded number of stages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from flax import struct

from cosearch.errors import InputError
from cosearch.hardware.layer_model import (
    MAX_KERNEL,
    MAX_LAYER_DIM,
    TILING_FIELDS,
    Layer,
    Tiling,
    check_size,
)


class ConvSpec(NamedTuple):
    """One conv layer of the search space: kernel, filters, stride."""

    kernel: int
    filters: int
    stride: int


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A chain of conv layers (docs/design.md section 2); hashable, used as cache key.

    Attributes:
      layers: per layer (kernel, filters, stride).
    """

    layers: tuple[ConvSpec, ...]

    def __post_init__(self):
        layers = tuple(ConvSpec(*map(int, lay)) for lay in self.layers)
        if not layers:
            raise ValueError("an architecture needs at least one layer")
        for i, (k, f, st) in enumerate(layers):
            check_size(f"layer {i} kernel", k, MAX_KERNEL)
            check_size(f"layer {i} filters", f, MAX_LAYER_DIM)
            check_size(f"layer {i} stride", st, MAX_KERNEL)
        object.__setattr__(self, "layers", layers)

    @classmethod
    def parse(cls, text: str) -> Architecture:
        """From ``"k,f,s;k,f,s;..."`` (stride optional, default 1).

        Raises:
          InputError: a malformed text or an out-of-range value (a user's).
        """
        layers = []
        for i, part in enumerate(p for p in text.replace(" ", "").split(";") if p):
            try:
                vals = [int(v) for v in part.split(",")]
            except ValueError:
                raise InputError(
                    f"layer {i} {part!r}: expected integers 'kernel,filters,stride'"
                ) from None
            if len(vals) == 2:
                vals.append(1)
            if len(vals) != 3:
                raise InputError(
                    f"layer {i} {part!r}: expected 'kernel,filters[,stride]'"
                )
            layers.append(ConvSpec(*vals))
        try:
            return cls(tuple(layers))
        except ValueError as e:
            raise InputError(str(e)) from None

    def __str__(self) -> str:
        return ";".join(f"{k},{f},{s}" for k, f, s in self.layers)

    @property
    def depth(self) -> int:
        return len(self.layers)

    def conv_layers(self, input_shape: Sequence[int], batch: int = 1) -> list[Layer]:
        """The layers as cost-model :class:`Layer` records.

        Args:
          input_shape: (height, width, channels) of the input image.
          batch: images per pass (1 for streaming).
        """
        r, c, n = (int(v) for v in input_shape)
        out = []
        for k, f, s in self.layers:
            out.append(Layer(n=n, m=f, r=r, c=c, k=k, s=s, b=batch))
            r, c, n = -(-r // s), -(-c // s), f
        return out


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
class ArchArrays:
    """Padded architecture(s); add a leading ``[B]`` axis for a batch.

    Attributes:
      kernel: ``[L]`` int32 kernel size K (1 where padded).
      filters: ``[L]`` int32 output channels M (1 where padded).
      stride: ``[L]`` int32 stride S (1 where padded).
      mask: ``[L]`` bool, True for real layers (a prefix).
      input_hwc: ``[3]`` int32 input (height, width, channels).
    """

    kernel: Any
    filters: Any
    stride: Any
    mask: Any
    input_hwc: Any


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


def check_input_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    """(height, width, channels) as ints, each positive and at most
    MAX_LAYER_DIM; raises ValueError otherwise."""
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(f"input shape must be (height, width, channels), got {shape}")
    names = ("height", "width", "channels")
    return tuple(
        check_size(f"input {name}", int(v) if isinstance(v, np.integer) else v,
                   MAX_LAYER_DIM)
        for name, v in zip(names, shape, strict=True)
    )  # fmt: skip


def arch_arrays(
    archs: Sequence[Architecture],
    input_shape: Sequence[int],
    max_layers: int | None = None,
    xp=np,
) -> ArchArrays:
    """Batched, padded arrays ``[B, L]`` of ``archs`` (``xp``: np or jnp).

    Raises:
      ValueError: an input size that is not a positive int up to
        MAX_LAYER_DIM.
    """
    check_input_shape(input_shape)
    max_layers = max_layers or max(a.depth for a in archs)
    b = len(archs)
    kernel = np.ones((b, max_layers), np.int32)
    filters = np.ones((b, max_layers), np.int32)
    stride = np.ones((b, max_layers), np.int32)
    mask = np.zeros((b, max_layers), bool)
    for i, a in enumerate(archs):
        if a.depth > max_layers:
            raise ValueError(f"architecture {i} has {a.depth} > {max_layers} layers")
        lay = np.asarray(a.layers, np.int32)
        kernel[i, : a.depth], filters[i, : a.depth], stride[i, : a.depth] = lay.T
        mask[i, : a.depth] = True
    hwc = np.broadcast_to(np.asarray(input_shape, np.int32), (b, 3)).copy()
    return ArchArrays(*(xp.asarray(v) for v in (kernel, filters, stride, mask, hwc)))


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


def layer_dims(arch: ArchArrays, xp=jnp):
    """Per-layer shape of one (unbatched) padded architecture.

    Uses ceil(ceil(R/s1)/s2) = ceil(R/(s1 s2)) for the running size.

    Returns:
      (n, m, r, c, k, s): ``[L]`` int32 arrays: input channels, output
      channels, input rows, input columns, kernel, stride. Padded layers get
      the values of a 1x1 layer and must be masked by the caller.
    """
    h, w, ch = arch.input_hwc[0], arch.input_hwc[1], arch.input_hwc[2]
    stride = xp.where(arch.mask, arch.stride, 1)
    scale = xp.cumprod(stride) // stride  # product of earlier strides
    r = -xp.floor_divide(-h, scale)
    c = -xp.floor_divide(-w, scale)
    n = xp.concatenate([xp.reshape(ch, (1,)), arch.filters[:-1]]).astype(xp.int32)
    return n, arch.filters, r.astype(xp.int32), c.astype(xp.int32), arch.kernel, stride
