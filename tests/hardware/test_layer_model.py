"""Golden values of the tile model (docs/design.md section 4): scalar, arrays."""

import jax.numpy as jnp
import numpy as np
import pytest

from cosearch.hardware.layer_model import (
    COMPUTE,
    INPUT_LOAD,
    OUTPUT_STORE,
    WEIGHT_LOAD,
    Layer,
    Tiling,
    layer_cost,
    layer_cycles,
    layer_terms,
)

# (layer, tiling, cycles, bottleneck); arithmetic in the comments.
GOLDEN = [
    pytest.param(
        # P=1. tW = 16*4*9/4 = 144; tI = 3*32*32/4 = 768;
        # tO = 16*32*32/4 = 4096; tC = 9*min(64,34)*min(64,34) = 10404;
        # lat1 = 10404; lat2 = max(ceil(3/4)*10404, 4096) = 10404;
        # tiles = ceil(32/64)*ceil(32/64)*ceil(36/16) = 3 -> 31212.
        Layer(n=3, m=36, r=32, c=32, k=3, s=1),
        Tiling(tm=16, tn=4, tr=64, tc=64, tk=3, wp=4, ip=4, op=4),
        31212.0,
        COMPUTE,
        id="compute-bound, tile larger than the map",
    ),
    pytest.param(
        # K=7, S=2, P=3. tW = 8*32*49/8 = 1568; tI = 32*16*16/1 = 8192;
        # tO = 8*ceil(16/2)*ceil(16/2)/8 = 64; tC = 49*8*8 = 3136;
        # lat1 = 8192; lat2 = max(ceil(36/32)*8192, 64) = 16384;
        # tiles = 2*2*ceil(24/8) = 12 -> 196608.
        Layer(n=36, m=24, r=32, c=32, k=7, s=2),
        Tiling(tm=8, tn=32, tr=16, tc=16, tk=7, wp=8, ip=1, op=8),
        196608.0,
        INPUT_LOAD,
        id="input-bound, stride 2, kernel 7",
    ),
    pytest.param(
        # K=1, P=0. tW = 64*4*1/8 = 32; tI = 4*8*8/8 = 32; tO = 64*8*8/1 = 4096;
        # tC = 1*8*8 = 64; lat1 = 64; lat2 = max(ceil(4/4)*64, 4096) = 4096;
        # tiles = 1 -> 4096.
        Layer(n=4, m=64, r=8, c=8, k=1, s=1),
        Tiling(tm=64, tn=4, tr=8, tc=8, tk=1, wp=8, ip=8, op=1),
        4096.0,
        OUTPUT_STORE,
        id="output-bound, kernel 1",
    ),
    pytest.param(
        # K=5, P=2. tW = 32*16*25/1 = 12800; tI = 16*4*4/4 = 64;
        # tO = 32*4*4/4 = 128; tC = 25*min(4,8)*min(4,8) = 400; lat1 = 12800;
        # lat2 = max(ceil(64/16)*12800, 128) = 51200; tiles = ceil(64/32) = 2
        # -> 102400.
        Layer(n=64, m=64, r=4, c=4, k=5, s=1),
        Tiling(tm=32, tn=16, tr=4, tc=4, tk=5, wp=1, ip=4, op=4),
        102400.0,
        WEIGHT_LOAD,
        id="weight-bound",
    ),
    pytest.param(
        # Odd map, S=2, P=1. tW = 8*3*9/2 = 108; tI = 3*4*4/2 = 24;
        # tO = 8*ceil(4/2)*ceil(4/2)/2 = 16; tC = 9*ceil(4/2)*ceil(4/2) = 36;
        # lat1 = 108; lat2 = 108; tiles = ceil(7/4)*ceil(5/4)*ceil(24/8) = 12
        # -> 1296.
        Layer(n=3, m=24, r=7, c=5, k=3, s=2),
        Tiling(tm=8, tn=3, tr=4, tc=4, tk=3, wp=2, ip=2, op=2),
        1296.0,
        WEIGHT_LOAD,
        id="stride 2 on an odd map",
    ),
]


@pytest.mark.parametrize("layer, tiling, cycles, bottleneck", GOLDEN)
def test_layer_cost_golden(layer, tiling, cycles, bottleneck):
    cost = layer_cost(layer, tiling)
    assert cost.cycles == cycles
    assert cost.bottleneck == bottleneck


@pytest.mark.parametrize("xp", [np, jnp], ids=["numpy", "jax"])
def test_layer_cycles_arrays_match_scalar(xp):
    layers = [p.values[0] for p in GOLDEN]
    tilings = [p.values[1] for p in GOLDEN]
    col = lambda objs, f: xp.asarray([getattr(o, f) for o in objs])
    cycles, neck = layer_cycles(
        *(col(layers, f) for f in "nmrcks"),
        *(col(tilings, f) for f in ("tm", "tn", "tr", "tc", "wp", "ip", "op")),
        xp=xp,
    )
    np.testing.assert_array_equal(np.asarray(cycles), [p.values[2] for p in GOLDEN])
    np.testing.assert_array_equal(np.asarray(neck), [p.values[3] for p in GOLDEN])


def test_layer_terms_match_scalar():
    """The jitted code's float32 form gives every term of the scalar API."""
    layers = [p.values[0] for p in GOLDEN]
    tilings = [p.values[1] for p in GOLDEN]
    col = lambda objs, f: jnp.asarray([getattr(o, f) for o in objs], jnp.float32)
    terms = layer_terms(
        *(col(layers, f) for f in "nmrcks"),
        *(col(tilings, f) for f in ("tm", "tn", "tr", "tc", "wp", "ip", "op")),
    )
    costs = [layer_cost(*pair) for pair in zip(layers, tilings, strict=True)]
    names = ("t_weight", "t_input", "t_output", "t_compute", "lat1", "lat2")
    for name in (*names, "tiles", "cycles", "bottleneck"):
        got = np.asarray(getattr(terms, name))
        np.testing.assert_array_equal(got, [getattr(c, name) for c in costs], name)


def test_bad_inputs_refused():
    with pytest.raises(ValueError, match="bits"):
        layer_cost(Layer(1, 1, 1, 1, 1), Tiling(1, 1, 1, 1, 1, 1, 1, 1), bits=8)
    with pytest.raises(ValueError, match="Tiling.tm"):
        Tiling(0, 1, 1, 1, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="Layer.k"):
        Layer(n=1, m=1, r=1, c=1, k=0)


def test_sizes_past_the_accepted_range_are_refused():
    """Values that would wrap int32 products (DSP = Tm * Tn of a 2**30 tile
    once gave 0 DSP and 'feasible') are refused when the record is made."""
    with pytest.raises(ValueError, match=r"Tiling.tm = 1073741824 exceeds"):
        Tiling(1 << 30, 1 << 30, 8, 8, 5, 4, 4, 4)
    with pytest.raises(ValueError, match=r"Layer.r = 2147483648 exceeds"):
        Layer(n=64, m=128, r=1 << 31, c=224, k=3)
    with pytest.raises(ValueError, match=r"Tiling.tk = 65 exceeds"):
        Tiling(4, 4, 8, 8, 65, 4, 4, 4)
