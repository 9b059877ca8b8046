"""2-D convolution for child networks, CPU-fast forward and gradients.

XLA's CPU backend runs a convolution's weight gradient several times slower
than its forward pass, a 1x1 convolution slower than the same matrix
product, and a large convolution over a whole batch of 64 slower than over
chunks of it whose working set stays in the caches. On CPU :func:`conv2d`
(``grad_impl="im2col"``, what "auto" picks there) therefore uses a custom
VJP, each choice measured per layer shape with
``python -m benchmarks.bench_conv`` (BUILD_NOTES.md, "Child training"):

- value: a 1x1 stride-1 convolution is one matrix product; before jax 0.12
  (``CHUNKED_CONVS``), a large layer (``K*K*Ci*Co >= CHUNK_MIN_MACS`` per
  output pixel) is XLA's convolution over chunks of ``FWD_BATCH_CHUNK``
  images; any other is XLA's convolution;
- weight gradient: one matrix product ``patches^T @ g`` over an im2col built
  from K*K shifted (strided) slices of the padded input for 1x1 layers and
  tiny 3x3 patches (``K*K*Ci <= IM2COL_MAX_PATCH``: a 3x3 first layer on
  grey or colour images); otherwise XLA's own weight gradient summed over
  chunks of ``DW_BATCH_CHUNK`` images;
- input gradient: for a 1x1 stride-1 layer, ``g @ w^T``; for stride 1, a
  forward convolution of ``g`` with the flipped, transposed kernel (chunked
  as the value); for stride > 1, the transpose of the forward convolution
  computed by XLA.

jax 0.12's XLA runs CPU convolutions about 1.36x faster than 0.10's; there
whole-batch convolutions beat the chunks, and the chunk rule is off
(BUILD_NOTES.md, "Child training"; the other rules still win there).

Every one of these computes the same sums as ``lax.conv_general_dilated``
and its autodiff, in another order: values agree to float32 rounding
(tests/child/test_conv.py), not bit for bit. On GPU/TPU (``grad_impl="xla"``) the
plain ``lax`` convolution and its autodiff are used. Layout:
NHWC activations, HWIO kernels; padding ``P = (K - 1) // 2`` before each
spatial axis and what ``ceil(R / S)`` outputs need after it (docs/design.md
section 4's ``P``; equal to "SAME" for stride 1, and PyTorch's
``padding=P`` for odd K).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from cosearch.hardware.geometry import out_size, padding

_DIMS = ("NHWC", "HWIO", "NHWC")

# The measured best on CPU (benchmarks.bench_conv; BUILD_NOTES.md, "Child
# training"):
# largest patch K*K*Ci of a 3x3 layer whose weight gradient is im2col +
# matmul; above it im2col's K*K copies of the input cost more than XLA's
# weight gradient, and so they do for a 5x5 layer on one channel (patch 25:
# 1.2x slower than chunks of 4 on jax 0.10.2, 1.7x and 2.3x on 0.12.1);
IM2COL_MAX_PATCH = 27
# images per chunk of the blocked XLA weight gradient;
DW_BATCH_CHUNK = 4
# MACs per output pixel (K*K*Ci*Co) from which the value and the input
# gradient run over chunks of FWD_BATCH_CHUNK images, before jax 0.12 only:
# over 9 large shapes, chunks are 1.29x (value) and 1.26x (input gradient)
# faster than one whole-batch convolution on jax 0.10.2, and 0.95x / 0.91x
# on jax 0.12.1.
CHUNKED_CONVS = jax.__version_info__ < (0, 12)
CHUNK_MIN_MACS = 24576
FWD_BATCH_CHUNK = 16

# Gradient implementations: "auto" (im2col on CPU, XLA elsewhere), "im2col",
# "xla".
GRAD_IMPLS = ("auto", "im2col", "xla")


def _pads(x_shape, kernel: int, stride: int):
    return [padding(x_shape[1], kernel, stride), padding(x_shape[2], kernel, stride)]


def conv_xla(x, w, stride: int):
    """``lax.conv_general_dilated`` with this module's padding.

    Args:
      x: ``[N, H, W, Ci]`` input.
      w: ``[K, K, Ci, Co]`` kernel.
      stride: spatial stride S.

    Returns:
      ``[N, ceil(H/S), ceil(W/S), Co]``.
    """
    return lax.conv_general_dilated(
        x,
        w,
        (stride, stride),
        _pads(x.shape, w.shape[0], stride),
        dimension_numbers=_DIMS,
    )


def im2col(x, kernel: int, stride: int):
    """Patches of the padded input from K*K shifted slices.

    Args:
      x: ``[N, H, W, Ci]`` input.
      kernel: K.
      stride: S.

    Returns:
      ``[N, OH, OW, K*K*Ci]`` patches, ordered (kh, kw, ci) to match an HWIO
      kernel reshaped to ``[K*K*Ci, Co]``.
    """
    n, h, w, c = x.shape
    oh, ow = out_size(h, stride), out_size(w, stride)
    xp = jnp.pad(x, [(0, 0), *_pads(x.shape, kernel, stride), (0, 0)])
    cols = []
    for kh in range(kernel):
        for kw in range(kernel):
            cols.append(
                lax.slice(
                    xp,
                    (0, kh, kw, 0),
                    (n, kh + (oh - 1) * stride + 1, kw + (ow - 1) * stride + 1, c),
                    (1, stride, stride, 1),
                )
            )
    return cols[0] if len(cols) == 1 else jnp.concatenate(cols, axis=-1)


def weight_grad_im2col(x, g, kernel: int, stride: int):
    """dL/dw as one matmul: ``patches^T @ g`` -> ``[K, K, Ci, Co]``."""
    ci, co = x.shape[-1], g.shape[-1]
    patches = im2col(x, kernel, stride).reshape(-1, kernel * kernel * ci)
    dw = jnp.dot(
        patches.T, g.reshape(-1, co), preferred_element_type=jnp.float32
    ).astype(x.dtype)
    return dw.reshape(kernel, kernel, ci, co)


def weight_grad_blocked(x, w, g, stride: int, chunk: int = DW_BATCH_CHUNK):
    """dL/dw by XLA's transposed convolution, summed over batch chunks.

    Args:
      x: ``[N, H, W, Ci]`` input of the conv.
      w: ``[K, K, Ci, Co]`` kernel (only its shape is used).
      g: ``[N, OH, OW, Co]`` cotangent of the output.
      stride: S.
      chunk: images per chunk.

    Returns:
      ``[K, K, Ci, Co]``.
    """
    n = x.shape[0]
    dw = None
    for start in range(0, n, chunk):
        xs, gs = x[start : start + chunk], g[start : start + chunk]
        part = jax.vjp(lambda ww, xs=xs: conv_xla(xs, ww, stride), w)[1](gs)[0]
        dw = part if dw is None else dw + part
    return dw


def _pointwise(kernel: int, stride: int) -> bool:
    """A 1x1 stride-1 layer: its value and input gradient are matrix products."""
    return kernel == 1 and stride == 1


def use_chunks(kernel: int, in_channels: int, out_channels: int) -> bool:
    """Whether the value and input gradient run over batch chunks (see module
    doc; never from jax 0.12)."""
    macs = kernel * kernel * in_channels * out_channels
    return CHUNKED_CONVS and macs >= CHUNK_MIN_MACS


def _over_batch(fn, x, chunk: int):
    """``fn`` over chunks of ``chunk`` images of ``x``, concatenated."""
    n = x.shape[0]
    if n <= chunk:
        return fn(x)
    return jnp.concatenate([fn(x[i : i + chunk]) for i in range(0, n, chunk)])


def cpu_value(x, w, stride: int):
    """The conv's value on CPU (see module doc): ``[N, OH, OW, Co]``."""
    k, ci, co = w.shape[0], w.shape[2], w.shape[3]
    if _pointwise(k, stride):
        return jnp.dot(x.reshape(-1, ci), w.reshape(ci, co)).reshape(*x.shape[:3], co)
    if use_chunks(k, ci, co):
        return _over_batch(lambda xs: conv_xla(xs, w, stride), x, FWD_BATCH_CHUNK)
    return conv_xla(x, w, stride)


def input_grad(x_shape, w, g, stride: int):
    """dL/dx of the conv: ``[N, H, W, Ci]``."""
    k, ci, co = w.shape[0], w.shape[2], w.shape[3]
    if _pointwise(k, stride):
        return jnp.dot(g.reshape(-1, co), w.reshape(ci, co).T).reshape(x_shape)
    if stride == 1:
        # Correlation of g with the spatially flipped kernel, channels swapped.
        (lo_h, hi_h), (lo_w, hi_w) = _pads(x_shape, k, 1)
        w_t = jnp.flip(w, (0, 1)).transpose(0, 1, 3, 2)
        pads = [(k - 1 - lo_h, k - 1 - hi_h), (k - 1 - lo_w, k - 1 - hi_w)]

        def flipped(gs):
            return lax.conv_general_dilated(
                gs, w_t, (1, 1), pads, dimension_numbers=_DIMS
            )

        if use_chunks(k, ci, co):
            return _over_batch(flipped, g, FWD_BATCH_CHUNK)
        return flipped(g)
    _, vjp = jax.vjp(lambda xx: conv_xla(xx, w, stride), jnp.zeros(x_shape, g.dtype))
    return vjp(g)[0]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_cpu(x, w, stride: int):
    """The conv with this module's CPU value and VJP (see module doc); the
    same sums as :func:`conv_xla`, in another order."""
    return cpu_value(x, w, stride)


def _fwd(x, w, stride):
    return cpu_value(x, w, stride), (x, w)


def use_im2col(kernel: int, in_channels: int) -> bool:
    """Whether the weight gradient goes through im2col (see module doc)."""
    return kernel == 1 or (
        kernel == 3 and kernel * kernel * in_channels <= IM2COL_MAX_PATCH
    )


def _bwd(stride, res, g):
    x, w = res
    k, ci = w.shape[0], w.shape[2]
    if use_im2col(k, ci):
        dw = weight_grad_im2col(x, g, k, stride)
    else:
        dw = weight_grad_blocked(x, w, g, stride)
    return input_grad(x.shape, w, g, stride), dw


conv_cpu.defvjp(_fwd, _bwd)


def conv2d(x, w, stride: int = 1, grad_impl: str = "auto"):
    """Same-padded 2-D convolution (no bias).

    Args:
      x: ``[N, H, W, Ci]`` input.
      w: ``[K, K, Ci, Co]`` kernel (HWIO), K odd for a centred window.
      stride: spatial stride S.
      grad_impl: one of :data:`GRAD_IMPLS`; "auto" picks "im2col" when JAX's
        default backend is the CPU and "xla" otherwise (decided at trace time).

    Returns:
      ``[N, ceil(H/S), ceil(W/S), Co]``.
    """
    if grad_impl not in GRAD_IMPLS:
        raise ValueError(f"grad_impl {grad_impl!r}: expected one of {GRAD_IMPLS}")
    if grad_impl == "auto":
        grad_impl = "im2col" if jax.default_backend() == "cpu" else "xla"
    if grad_impl == "im2col":
        return conv_cpu(x, w, stride)
    return conv_xla(x, w, stride)
