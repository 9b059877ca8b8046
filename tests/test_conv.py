"""The conv with the custom (im2col) VJP equals lax.conv's value and gradients."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cosearch import conv


def _lax_conv(x, w, stride):
    # Reference: lax.conv_general_dilated with explicit padding of docs/design.md
    # section 4 (P = (K-1)//2 before; whatever ceil(R/S) outputs need after).
    k = w.shape[0]
    pads = [conv.padding(x.shape[1], k, stride), conv.padding(x.shape[2], k, stride)]
    return lax.conv_general_dilated(
        x, w, (stride, stride), pads, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


# Input channels chosen so both weight-gradient branches run: K*K*Ci <= 256
# goes through im2col (1x1 and 7x7 with 3 channels), larger through XLA (3x3
# and 5x5 with 40 channels); weight_grad_im2col is also checked directly.
CASES = [(k, s, 3 if k in (1, 7) else 40) for k in (1, 3, 5, 7) for s in (1, 2)]


@functools.partial(jax.jit, static_argnums=(3, 4))
def _both(x, w, g, k, s):
    ref_y, ref_vjp = jax.vjp(lambda a, b: _lax_conv(a, b, s), x, w)
    y, vjp = jax.vjp(lambda a, b: conv.conv_im2col_grad(a, b, s), x, w)
    direct_dw = conv.weight_grad_im2col(x, g, k, s)
    blocked_dw = conv.weight_grad_blocked(x, w, g, s, chunk=2)  # chunks 2 + 1
    return (y, *vjp(g), direct_dw, blocked_dw), (ref_y, *ref_vjp(g))


@pytest.mark.parametrize("k,s,ci", CASES)
def test_value_and_gradients_equal_lax(k, s, ci):
    rng = np.random.default_rng(k * 10 + s)
    oh = -(-9 // s)
    x, w, g = (
        rng.standard_normal(shape, np.float32)
        for shape in [(3, 9, 9, ci), (k, k, ci, 5), (3, oh, oh, 5)]
    )
    (y, dx, dw, direct_dw, blocked_dw), (ref_y, ref_dx, ref_dw) = _both(x, w, g, k, s)
    assert y.shape == (3, oh, oh, 5)
    assert conv.use_im2col(k, ci) == (k in (1, 7))
    np.testing.assert_allclose(y, ref_y, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(dw, ref_dw, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(direct_dw, ref_dw, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(blocked_dw, ref_dw, rtol=1e-4, atol=1e-3)


def test_padding_matches_same_for_stride_one_and_output_size():
    for k in (1, 3, 5, 7):
        lo, hi = conv.padding(10, k, 1)
        assert (lo, hi) == ((k - 1) // 2, (k - 1) // 2)
    # 28 rows, K=3, S=2: ceil(28/2)=14 outputs need (14-1)*2+3 = 29 rows:
    # 1 before, 0 after.
    assert conv.padding(28, 3, 2) == (1, 0)
    assert conv.out_size(27, 2) == 14


def test_conv2d_dispatch_and_jit():
    x = jnp.ones((1, 6, 6, 2))
    w = jnp.ones((3, 3, 2, 4))
    for impl in conv.GRAD_IMPLS:
        y = jax.jit(lambda a, b, impl=impl: conv.conv2d(a, b, 1, impl))(x, w)
        # Centre pixel sees 3*3*2 ones.
        assert float(y[0, 3, 3, 0]) == 18.0
    with pytest.raises(ValueError, match="grad_impl"):
        conv.conv2d(x, w, 1, "fast")
    assert conv.use_im2col(1, 64) and conv.use_im2col(3, 1)
    assert not conv.use_im2col(5, 36)
