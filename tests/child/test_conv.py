"""The CPU conv (its value and custom VJP) equals lax.conv's value and
gradients, and a child trains the same on it as on XLA's own convolution."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cosearch import data
from cosearch.child import conv, train
from cosearch.hardware import geometry
from cosearch.hardware.architecture import Architecture


def _lax_conv(x, w, stride):
    # Reference: lax.conv_general_dilated with explicit padding of docs/design.md
    # section 4 (P = (K-1)//2 before; whatever ceil(R/S) outputs need after).
    k = w.shape[0]
    pads = [
        geometry.padding(x.shape[1], k, stride),
        geometry.padding(x.shape[2], k, stride),
    ]
    return lax.conv_general_dilated(
        x, w, (stride, stride), pads, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


# (K, S, Ci, Co, N), chosen so every branch of the CPU path runs:
# 1x1 stride 1 (value and input gradient as matrix products, im2col dW);
# 1x1 stride 2 and tiny 3x3 patches (im2col dW: K*K*Ci <= 27) at both strides;
# larger patches (blocked dW) at both strides; a layer with K*K*Ci*Co >=
# CHUNK_MIN_MACS over a batch of 20 (before jax 0.12, value and input
# gradient in chunks of 16 + 4 images; dW in chunks of 4).
CASES = [
    (1, 1, 3, 5, 3),
    (1, 2, 3, 5, 3),
    (3, 1, 3, 5, 3),
    (3, 2, 1, 5, 3),
    (5, 2, 1, 5, 3),
    (3, 2, 40, 5, 3),
    (5, 1, 40, 5, 3),
    (7, 2, 3, 5, 3),
    (7, 1, 40, 16, 20),
]


@functools.partial(jax.jit, static_argnums=(3, 4))
def _both(x, w, g, k, s):
    ref_y, ref_vjp = jax.vjp(lambda a, b: _lax_conv(a, b, s), x, w)
    y, vjp = jax.vjp(lambda a, b: conv.conv_cpu(a, b, s), x, w)
    direct_dw = conv.weight_grad_im2col(x, g, k, s)
    blocked_dw = conv.weight_grad_blocked(x, w, g, s, chunk=2)  # chunks 2 + 1
    return (y, *vjp(g), direct_dw, blocked_dw), (ref_y, *ref_vjp(g))


@pytest.mark.parametrize("k,s,ci,co,n", CASES)
def test_value_and_gradients_equal_lax(k, s, ci, co, n):
    rng = np.random.default_rng(k * 10 + s)
    oh = -(-9 // s)
    x, w, g = (
        rng.standard_normal(shape, np.float32)
        for shape in [(n, 9, 9, ci), (k, k, ci, co), (n, oh, oh, co)]
    )
    (y, dx, dw, direct_dw, blocked_dw), (ref_y, ref_dx, ref_dw) = _both(x, w, g, k, s)
    assert y.shape == (n, oh, oh, co)
    assert conv.use_im2col(k, ci) == (k == 1 or (k == 3 and ci <= 3))
    assert conv.use_chunks(k, ci, co) == (n == 20 and conv.CHUNKED_CONVS)
    np.testing.assert_allclose(y, ref_y, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(dw, ref_dw, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(direct_dw, ref_dw, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(blocked_dw, ref_dw, rtol=1e-4, atol=1e-3)


def test_padding_matches_same_for_stride_one_and_output_size():
    for k in (1, 3, 5, 7):
        lo, hi = geometry.padding(10, k, 1)
        assert (lo, hi) == ((k - 1) // 2, (k - 1) // 2)
    # 28 rows, K=3, S=2: ceil(28/2)=14 outputs need (14-1)*2+3 = 29 rows:
    # 1 before, 0 after.
    assert geometry.padding(28, 3, 2) == (1, 0)
    assert geometry.out_size(27, 2) == 14


def test_conv2d_dispatch_and_jit():
    x = jnp.ones((1, 6, 6, 2))
    w = jnp.ones((3, 3, 2, 4))
    for impl in conv.GRAD_IMPLS:
        y = jax.jit(lambda a, b, impl=impl: conv.conv2d(a, b, 1, impl))(x, w)
        # Centre pixel sees 3*3*2 ones.
        assert float(y[0, 3, 3, 0]) == 18.0
    with pytest.raises(ValueError, match="grad_impl"):
        conv.conv2d(x, w, 1, "fast")
    assert conv.use_im2col(1, 64) and conv.use_im2col(3, 3)
    assert not conv.use_im2col(3, 24) and not conv.use_im2col(5, 36)
    assert not conv.use_im2col(5, 1)  # patch 25, but 5x5 (BUILD_NOTES.md)
    assert conv.use_chunks(5, 36, 48) == conv.CHUNKED_CONVS
    assert not conv.use_chunks(3, 48, 48)


# Architectures that take every branch of the CPU path at 28x28x1, batch 32:
# tiny-patch im2col, blocked dW, chunked value and input gradient, 1x1
# matrix products, a stride-2 layer.
TRAINED = [
    "3,24,1;3,24,1;1,36,1;5,48,1",
    "7,36,1;5,64,1;1,24,2;3,48,1",
]


@pytest.mark.parametrize("layers", TRAINED)
def test_training_on_the_cpu_path_equals_xla(layers):
    """Loss curve and accuracy of a child trained on the CPU path equal those
    on XLA's own convolution and gradient, to float32 rounding: the same
    model, data order and initial weights; only the order of the sums
    differs."""
    dataset = data.load("embedded")
    arch = Architecture.parse(layers)
    results = {}
    for impl in ("im2col", "xla"):
        config = train.TrainConfig(
            steps=20, batch_size=32, learning_rate=0.05, train_examples=640,
            grad_impl=impl, head="gap",
        )  # fmt: skip
        results[impl] = train.train_child(arch, dataset, config, jax.random.key(3))
    cpu, xla = results["im2col"], results["xla"]
    assert not cpu.failed and not xla.failed
    # Measured (relative, over the 20 steps; validation predictions flipped of
    # 2,000): 2-core Intel Xeon, jax 0.10: 3.9e-4 and 1.6e-4, 5 and 1; 2-core
    # AMD EPYC, jax 0.10.2: 3.7e-6 and 1.8e-4, 0 and 1; jax 0.12.1: 4.0e-4 and
    # 1.2e-3, 1 and 1. The bounds are about twice the largest.
    np.testing.assert_allclose(cpu.loss_curve, xla.loss_curve, rtol=2.5e-3)
    flipped = abs(cpu.val_accuracy - xla.val_accuracy) * len(dataset.val.labels)
    assert round(flipped) <= 10
