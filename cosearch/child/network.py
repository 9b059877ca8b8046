"""Child CNN of the search space (docs/design.md section 2) and its parameter count.

Each layer is Conv(k x k, same padding, bias) -> ReLU -> BatchNorm. The head
is one of :data:`HEADS`: ``"flatten"`` (Flatten -> Dense(num_classes), the
paper's child) or ``"gap"`` (global average pooling -> Dense(num_classes):
the classifier sees only what the conv layers, which the accelerator runs,
computed). No pooling between layers, no skip connections.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cosearch.child.conv import conv2d
from cosearch.hardware.architecture import Architecture, ConvSpec
from cosearch.hardware.geometry import out_size

# BatchNorm moving-average momentum: 0.9 rather than Keras' 0.99, because a
# child trains for only a few hundred steps and 0.99 would leave the moving
# statistics dominated by their initial values. Epsilon as in Keras.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-3

# Name of the dense head in the parameter tree.
HEAD = "head"

# Heads of a child: Flatten -> Dense, or global average pooling -> Dense.
HEADS = ("flatten", "gap")


def check_head(head: str) -> str:
    """``head`` if it is one of :data:`HEADS`; raises ValueError otherwise."""
    if head not in HEADS:
        raise ValueError(f"head {head!r}: expected one of {HEADS}")
    return head


def pool_features(x, head: str):
    """``[N, H, W, C]`` features -> ``[N, D]`` head inputs: flattened
    (``D = H W C``) or averaged over the map (``D = C``)."""
    if head == "gap":
        return x.mean(axis=(1, 2))
    return x.reshape(x.shape[0], -1)


# Initial weights are drawn in fixed-size chunks so that one compiled sampler
# serves every parameter shape (compiling a sampler per shape costs seconds on
# the CPU backend, more than training a small child).
_CHUNK = 1 << 16
_normal_chunk = jax.jit(lambda key: jax.random.normal(key, (_CHUNK,), jnp.float32))


def lecun_normal(key: jax.Array, shape: Sequence[int], dtype=jnp.float32):
    """LeCun-normal kernel, std ``sqrt(1 / fan_in)``, fan_in = prod(shape[:-1]).

    Run eagerly (as :func:`init_variables` does) it compiles nothing per
    shape; under ``jit`` it works too, sampling the same values.

    Args:
      key: consumed.
      shape: kernel shape, output features last.
      dtype: of the result.
    """
    n = math.prod(shape)
    fan_in = max(math.prod(shape[:-1]), 1)
    chunks = [_normal_chunk(jax.random.fold_in(key, i)) for i in range(-(-n // _CHUNK))]
    if isinstance(chunks[0], jax.core.Tracer):
        z = jnp.concatenate(chunks)[:n]
    else:
        z = jnp.asarray(np.concatenate([np.asarray(c) for c in chunks])[:n])
    return (z.reshape(tuple(shape)) * math.sqrt(1.0 / fan_in)).astype(dtype)


def as_layers(arch: Architecture | Sequence[Sequence[int]]) -> tuple[ConvSpec, ...]:
    """The (kernel, filters, stride) layers of an Architecture or a plain list."""
    if isinstance(arch, Architecture):
        return arch.layers
    return Architecture(tuple(tuple(lay) for lay in arch)).layers


class Conv(nn.Module):
    """Same-padded conv with bias, using :func:`cosearch.child.conv.conv2d`.

    Attributes:
      features: output channels Co.
      kernel: square kernel size K.
      stride: spatial stride S.
      grad_impl: see :func:`cosearch.child.conv.conv2d`.
    """

    features: int
    kernel: int
    stride: int = 1
    grad_impl: str = "auto"

    @nn.compact
    def __call__(self, x):
        """``[N, H, W, Ci]`` -> ``[N, ceil(H/S), ceil(W/S), Co]``."""
        ci = x.shape[-1]
        w = self.param(
            "kernel",
            lecun_normal,
            (self.kernel, self.kernel, ci, self.features),
            jnp.float32,
        )
        b = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        return conv2d(x, w.astype(x.dtype), self.stride, self.grad_impl) + b


class ChildCNN(nn.Module):
    """The child network of one architecture.

    Attributes:
      layers: per layer (kernel, filters, stride).
      num_classes: outputs of the Dense head.
      grad_impl: conv gradient implementation (see :func:`cosearch.child.conv.conv2d`).
      head: one of :data:`HEADS`.
    """

    layers: tuple[ConvSpec, ...]
    num_classes: int
    grad_impl: str = "auto"
    head: str = "flatten"

    @nn.compact
    def __call__(self, x, train: bool):
        """Logits of a batch.

        Args:
          x: ``[N, H, W, C]`` float images.
          train: batch statistics (and their update) when True, moving
            statistics when False.

        Returns:
          ``[N, num_classes]`` float32 logits.
        """
        for k, f, s in self.layers:
            x = Conv(f, k, s, self.grad_impl)(x)
            x = nn.relu(x)
            x = nn.BatchNorm(
                use_running_average=not train,
                momentum=BN_MOMENTUM,
                epsilon=BN_EPSILON,
            )(x)
        x = pool_features(x, self.head)
        return nn.Dense(self.num_classes, kernel_init=lecun_normal, name=HEAD)(x)


def make_model(
    arch: Architecture | Sequence[Sequence[int]],
    num_classes: int,
    grad_impl: str = "auto",
    head: str = "flatten",
) -> ChildCNN:
    """The :class:`ChildCNN` of ``arch`` with ``head`` (one of :data:`HEADS`)."""
    return ChildCNN(as_layers(arch), int(num_classes), grad_impl, check_head(head))


def init_variables(model: ChildCNN, input_shape: Sequence[int], key: jax.Array) -> dict:
    """``{"params", "batch_stats"}`` of ``model`` for ``[H, W, C]`` inputs.

    Runs eagerly: shapes come from ``jax.eval_shape`` and every weight from
    one cached sampler, so no per-architecture compilation happens here.

    Args:
      model: the child.
      input_shape: (height, width, channels).
      key: consumed.
    """
    x = jnp.zeros((1, *input_shape), jnp.float32)
    return dict(model.init(key, x, train=False))


def output_hw(
    arch: Architecture | Sequence[Sequence[int]], input_shape: Sequence[int]
) -> tuple[int, int]:
    """(height, width) of the last feature map: ceil divided by each stride."""
    h, w = int(input_shape[0]), int(input_shape[1])
    for _, _, s in as_layers(arch):
        h, w = out_size(h, s), out_size(w, s)
    return h, w


def count_params(
    layers: Architecture | Sequence[Sequence[int]],
    input_shape: Sequence[int],
    num_classes: int,
    head: str = "flatten",
) -> int:
    """Parameters in the Keras "Total params" convention.

    Per conv layer ``K*K*Ci*Co + Co`` (kernel, bias) plus ``4*Co`` for
    BatchNorm (scale, offset and the two moving statistics, which Keras counts
    as non-trainable parameters); head ``D*classes + classes`` with ``D =
    H'*W'*C_last`` (flatten) or ``C_last`` (gap).

    Args:
      layers: an Architecture or a list of (kernel, filters, stride).
      input_shape: (height, width, channels).
      num_classes: outputs of the head.
      head: one of :data:`HEADS`.
    """
    ci = int(input_shape[2])
    total = 0
    for k, f, _ in as_layers(layers):
        total += k * k * ci * f + f + 4 * f
        ci = f
    h, w = output_hw(layers, input_shape)
    inputs = ci if check_head(head) == "gap" else h * w * ci
    return total + inputs * num_classes + num_classes
