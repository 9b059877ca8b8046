"""Tests of the child CNN: output shapes and Keras-convention parameter counts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cosearch.child import network as child
from cosearch.hardware.architecture import Architecture

RELEASED_6 = [(3, 36, 1), (5, 36, 1), (1, 64, 1), (3, 48, 2), (7, 24, 1), (1, 64, 1)]
RELEASED_10 = [
    (5, 24, 1),
    (1, 64, 1),
    (5, 48, 1),
    (7, 24, 1),
    (5, 36, 1),
    (1, 24, 1),
    (5, 48, 1),
    (3, 24, 1),
    (7, 24, 1),
    (3, 36, 1),
]

# Keras "Total params" at 32x32x3, 10 classes. Per conv layer
# K*K*Ci*Co + Co (kernel, bias) + 4*Co (BatchNorm gamma, beta, moving mean,
# moving variance); head H*W*C*10 + 10.
# 6 layers:
#   3*3*3*36+36   + 144 =  1,008 + 144 =   1,152
#   5*5*36*36+36  + 144 = 32,436 + 144 =  32,580
#   1*1*36*64+64  + 256 =  2,368 + 256 =   2,624
#   3*3*64*48+48  + 192 = 27,696 + 192 =  27,888   (stride 2: 32x32 -> 16x16)
#   7*7*48*24+24  +  96 = 56,472 +  96 =  56,568
#   1*1*24*64+64  + 256 =  1,600 + 256 =   1,856
#   dense 16*16*64*10+10                = 163,850
#   total 1,152+32,580+2,624+27,888+56,568+1,856+163,850 = 286,518
PARAMS_6 = 286_518
# 10 layers (all stride 1, 32x32 throughout):
#   5*5*3*24+24   +  96 =  1,824 +  96 =   1,920
#   1*1*24*64+64  + 256 =  1,600 + 256 =   1,856
#   5*5*64*48+48  + 192 = 76,848 + 192 =  77,040
#   7*7*48*24+24  +  96 = 56,472 +  96 =  56,568
#   5*5*24*36+36  + 144 = 21,636 + 144 =  21,780
#   1*1*36*24+24  +  96 =    888 +  96 =     984
#   5*5*24*48+48  + 192 = 28,848 + 192 =  29,040
#   3*3*48*24+24  +  96 = 10,392 +  96 =  10,488
#   7*7*24*24+24  +  96 = 28,248 +  96 =  28,344
#   3*3*24*36+36  + 144 =  7,812 + 144 =   7,956
#   dense 32*32*36*10+10                = 368,650
#   convs 1,920+1,856+77,040+56,568+21,780+984+29,040+10,488+28,344+7,956
#       = 235,976; total 235,976 + 368,650 = 604,626
PARAMS_10 = 604_626


@pytest.mark.parametrize(
    "layers,expected", [(RELEASED_6, PARAMS_6), (RELEASED_10, PARAMS_10)]
)
def test_count_params_released_designs(layers, expected):
    assert child.count_params(layers, (32, 32, 3), 10) == expected
    assert child.count_params(Architecture(tuple(layers)), (32, 32, 3), 10) == expected


@pytest.mark.parametrize(
    "layers,expected,out_hw",
    [(RELEASED_6, PARAMS_6, (16, 16)), (RELEASED_10, PARAMS_10, (32, 32))],
)
def test_model_shapes_and_params(layers, expected, out_hw):
    # Shapes only (jax.eval_shape): nothing is compiled or run.
    model = child.make_model(Architecture(tuple(layers)), 10)
    variables = jax.eval_shape(
        lambda key: child.init_variables(model, (32, 32, 3), key), jax.random.key(0)
    )
    # The module's own variables (params + batch statistics) match the count.
    n = sum(v.size for v in jax.tree.leaves(variables))
    assert n == expected
    assert child.output_hw(layers, (32, 32, 3)) == out_hw
    x = jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32)
    logits = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)
    assert logits.shape == (2, 10) and logits.dtype == jnp.float32
    logits, upd = jax.eval_shape(
        lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]),
        variables,
        x,
    )
    assert logits.shape == (2, 10)
    assert jax.tree.structure(upd["batch_stats"]) == jax.tree.structure(
        variables["batch_stats"]
    )


def test_stride_two_output_and_odd_sizes():
    # ceil(27 / 2) = 14, then ceil(14 / 2) = 7.
    assert child.output_hw([(3, 8, 2), (1, 8, 2)], (27, 27, 1)) == (7, 7)
    # 3*3*1*8+8+32 = 112; 1*1*8*8+8+32 = 104; dense 7*7*8*5+5 = 1,965.
    assert child.count_params([(3, 8, 2), (1, 8, 2)], (27, 27, 1), 5) == 2_181


def test_lecun_normal_scale_and_jit_agree():
    key = jax.random.key(3)
    shape = (3, 3, 16, 32)  # fan_in 144: std 1/12
    w = child.lecun_normal(key, shape)
    assert w.shape == shape
    assert abs(float(jnp.std(w)) - 1 / 12) < 0.01
    np.testing.assert_allclose(
        jax.jit(child.lecun_normal, static_argnums=1)(key, shape), w, rtol=1e-6
    )


@pytest.mark.parametrize(
    "layers,flatten_params", [(RELEASED_6, PARAMS_6), (RELEASED_10, PARAMS_10)]
)
def test_the_gap_head_sees_the_last_layers_channels(layers, flatten_params):
    # The gap head: C_last * 10 + 10 weights instead of H' * W' * C_last * 10
    # + 10 (6 layers: 64 channels, 16x16 map; 10 layers: 36 channels, 32x32).
    arch = Architecture(tuple(layers))
    c_last, (h, w) = layers[-1][1], child.output_hw(layers, (32, 32, 3))
    gap = child.count_params(arch, (32, 32, 3), 10, head="gap")
    assert flatten_params - gap == h * w * c_last * 10 - c_last * 10
    model = child.make_model(arch, 10, head="gap")
    variables = jax.eval_shape(
        lambda key: child.init_variables(model, (32, 32, 3), key), jax.random.key(0)
    )
    assert sum(v.size for v in jax.tree.leaves(variables)) == gap
    assert variables["params"]["head"]["kernel"].shape == (c_last, 10)
    with pytest.raises(ValueError, match="head 'pool'"):
        child.make_model(arch, 10, head="pool")
