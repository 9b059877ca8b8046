"""A child of the search space padded to the space's largest kernel and
channel count, so that children of one stride pattern share one network.

* Every layer's kernel is padded to ``max_kernel`` (odd; a child's k x k
  kernel sits at the centre of the window, which with the padding
  ``(K - 1) // 2`` of :mod:`cosearch.child.conv` gives exactly the child's
  convolution) and ``max_filters`` channels; the dense head's inputs are
  padded the same way.
* A tap mask multiplies each kernel (padded taps are zero forward and get a
  zero gradient) and a channel mask each layer's output after batch norm
  (padded channels are zero forward, so their batch-norm statistics, their
  kernels, biases and scales and the head's padded inputs all get zero
  gradients); padded parameters start at zero (:func:`embed`) and stay
  there under momentum and weight decay.

:mod:`cosearch.child.batched` trains K such networks at once under ``jax.vmap``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from cosearch.child.conv import conv2d
from cosearch.child.network import BN_EPSILON, BN_MOMENTUM, HEAD, pool_features
from cosearch.hardware.architecture import Architecture


class _MaskedConv(nn.Module):
    """Padded same-padded conv with bias; the kernel times a tap mask."""

    features: int
    kernel: int
    stride: int
    grad_impl: str

    @nn.compact
    def __call__(self, x, taps):
        ci = x.shape[-1]
        shape = (self.kernel, self.kernel, ci, self.features)
        w = self.param("kernel", nn.initializers.zeros, shape, jnp.float32)
        b = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        w = w * taps[:, :, None, None]
        return conv2d(x, w.astype(x.dtype), self.stride, self.grad_impl) + b


class PaddedChild(nn.Module):
    """The child network padded to ``max_kernel`` and ``max_filters``.

    Parameters are named as in :class:`cosearch.child.network.ChildCNN` (``Conv_i``,
    ``BatchNorm_i``, ``head``), so a child's own variables embed leaf by leaf.

    Attributes:
      strides: stride of every layer.
      max_kernel: padded kernel size (odd).
      max_filters: padded channel count.
      num_classes: outputs of the head.
      grad_impl: conv gradient implementation.
      head: one of :data:`cosearch.child.network.HEADS`.
    """

    strides: tuple[int, ...]
    max_kernel: int
    max_filters: int
    num_classes: int
    grad_impl: str = "auto"
    head: str = "flatten"

    @nn.compact
    def __call__(self, x, taps, channels, train: bool):
        """Logits ``[N, classes]`` of one child.

        Args:
          x: ``[N, H, W, C]`` images.
          taps: ``[L, max_kernel, max_kernel]`` 1.0 inside each layer's kernel.
          channels: ``[L, max_filters]`` 1.0 for each layer's real channels.
          train: batch statistics (and their update) when True.
        """
        for i, s in enumerate(self.strides):
            x = _MaskedConv(
                self.max_filters, self.max_kernel, s, self.grad_impl, name=f"Conv_{i}"
            )(x, taps[i])
            x = nn.relu(x)
            x = nn.BatchNorm(
                use_running_average=not train,
                momentum=BN_MOMENTUM,
                epsilon=BN_EPSILON,
                name=f"BatchNorm_{i}",
            )(x)
            x = x * channels[i]
        x = pool_features(x, self.head)
        return nn.Dense(self.num_classes, name=HEAD)(x)


def masks(
    arch: Architecture, max_kernel: int, max_filters: int
) -> tuple[np.ndarray, np.ndarray]:
    """(taps ``[L, Kmax, Kmax]``, channels ``[L, Cmax]``) float32 of ``arch``."""
    taps = np.zeros((arch.depth, max_kernel, max_kernel), np.float32)
    channels = np.zeros((arch.depth, max_filters), np.float32)
    for i, (k, f, _) in enumerate(arch.layers):
        off = (max_kernel - k) // 2
        taps[i, off : off + k, off : off + k] = 1.0
        channels[i, :f] = 1.0
    return taps, channels


def _padded(values, size: int, fill: float) -> np.ndarray:
    """``values`` (a vector) followed by ``fill`` up to ``size``, float32."""
    out = np.full(size, fill, np.float32)
    out[: len(values)] = np.asarray(values)
    return out


def embed(
    variables: dict,
    arch: Architecture,
    input_shape: Sequence[int],
    max_kernel: int,
    max_filters: int,
) -> dict:
    """A child's own ``{"params", "batch_stats"}`` padded to the batched
    network's shapes (NumPy); padded entries are 0 (moving variances 1)."""
    params, stats = variables["params"], variables["batch_stats"]
    out_p: dict[str, Any] = {}
    out_s: dict[str, Any] = {}
    prev = int(input_shape[2])  # the child's input channels of layer i
    padded_in = prev  # the padded network's
    for i, (k, f, _) in enumerate(arch.layers):
        off = (max_kernel - k) // 2
        kern = np.zeros((max_kernel, max_kernel, padded_in, max_filters), np.float32)
        kern[off : off + k, off : off + k, :prev, :f] = params[f"Conv_{i}"]["kernel"]
        bias = _padded(params[f"Conv_{i}"]["bias"], max_filters, 0.0)
        out_p[f"Conv_{i}"] = {"kernel": kern, "bias": bias}
        bn, st = params[f"BatchNorm_{i}"], stats[f"BatchNorm_{i}"]
        out_p[f"BatchNorm_{i}"] = {
            "scale": _padded(bn["scale"], max_filters, 0.0),
            "bias": _padded(bn["bias"], max_filters, 0.0),
        }
        out_s[f"BatchNorm_{i}"] = {
            "mean": _padded(st["mean"], max_filters, 0.0),
            "var": _padded(st["var"], max_filters, 1.0),
        }
        prev, padded_in = f, max_filters
    head = np.asarray(params[HEAD]["kernel"])
    classes = head.shape[-1]
    # One position per head input row: the map's (flatten) or one (gap).
    positions = head.shape[0] // prev
    padded = np.zeros((positions, max_filters, classes), np.float32)
    padded[:, :prev, :] = head.reshape(positions, prev, classes)
    out_p[HEAD] = {
        "kernel": padded.reshape(positions * max_filters, classes),
        "bias": np.asarray(params[HEAD]["bias"], np.float32),
    }
    return {"params": out_p, "batch_stats": out_s}
