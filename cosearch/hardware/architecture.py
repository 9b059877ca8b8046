"""The network side: an architecture (a chain of conv layers) and its arrays.

Host side: :class:`Architecture`, a frozen, hashable record of
:class:`ConvSpec` layers (the key of every cache of the search). Fast path:
:class:`ArchArrays`, fixed-shape padded int arrays with a leading batch axis
``[B, L]`` when batched, which the jitted cost model and the optimizer take.
The multi-FPGA design that runs an architecture is :mod:`cosearch.hardware.design`.

Shapes: L = padded number of layers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from flax import struct

from cosearch.errors import InputError
from cosearch.hardware.geometry import out_size
from cosearch.hardware.layer_model import (
    MAX_KERNEL,
    MAX_LAYER_DIM,
    Layer,
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
            r, c, n = out_size(r, s), out_size(c, s), f
        return out

    def receptive_field(self) -> int:
        """Input pixels (along one axis) that one output pixel of the last
        layer sees: ``1 + sum_i (K_i - 1) * prod_{j<i} S_j``."""
        rf, jump = 1, 1
        for k, _, s in self.layers:
            rf += (k - 1) * jump
            jump *= s
        return rf

    def macs(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one image through the conv layers (the sum
        of :attr:`Layer.macs`)."""
        return sum(layer.macs for layer in self.conv_layers(input_shape))


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
    r = out_size(h, scale)
    c = out_size(w, scale)
    n = xp.concatenate([xp.reshape(ch, (1,)), arch.filters[:-1]]).astype(xp.int32)
    return n, arch.filters, r.astype(xp.int32), c.astype(xp.int32), arch.kernel, stride
