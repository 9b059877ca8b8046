"""DSP, BRAM and ports of an accelerator (docs/design.md section 4,
"Resources"): golden values by hand, and the scalar, NumPy and jitted forms
value for value."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cosearch.hardware.layer_model import TILING_FIELDS, Tiling
from cosearch.hardware.resources import (
    ACC_BITS,
    accelerator_resources,
    bram18,
    buffer_bram,
    resources,
    word_bits,
)

T = Tiling(tm=16, tn=4, tr=64, tc=64, tk=3, wp=4, ip=4, op=4)
TILINGS = [
    T,
    Tiling(tm=128, tn=32, tr=32, tc=32, tk=7, wp=8, ip=2, op=1),
    Tiling(tm=48, tn=1, tr=8, tc=8, tk=5, wp=4, ip=4, op=8),
    Tiling(tm=2, tn=3, tr=1, tc=1, tk=1, wp=1, ip=1, op=1),
    Tiling(4096, 4096, 4096, 4096, 64, 4096, 4096, 4096),  # the largest accepted
]


def test_golden_16_bit():
    # ibuf: Tn = 4 banks of 2 (64+2)(64+2) = 8712 words x 16 bits = 139,392
    #   bits -> 8 blocks each, 32;
    # wbuf: Tm Tn = 64 banks of 2 * 3 * 3 = 18 words x 16 -> 1 block, 64;
    # obuf: 2 Tm = 32 banks of 64 * 64 = 4096 accumulators x 48 bits =
    #   196,608 bits -> 11 blocks, 352;
    # total 448; DSP 16 * 4 = 64; ports 16 (4 + 4 + 4) = 192.
    got = {b.name: b.bram18 for b in buffer_bram(16, 4, 64, 64, 3, word_bits(16))}
    assert got == {
        "ibuf": 32,
        "wbuf": 64,
        "obuf": 352,
        "bias_buf": 0,
        "scale_buf": 0,
        "shift_buf": 0,
    }
    r = accelerator_resources(T, 16)
    assert (r.dsp, r.bram18, r.port_bits) == (64, 448, 192)


def test_golden_32_bit():
    # ibuf: 4 x ceil(8712 * 32 / 18000) = 4 x 16 = 64; wbuf: 64 x 1;
    # obuf: 32 x ceil(4096 * 32 / 18000) = 32 x 8 = 256 (float accumulators);
    # total 384; DSP 5 * 64 = 320; ports 32 * 12 = 384.
    r = accelerator_resources(T, 32)
    assert (r.dsp, r.bram18, r.port_bits) == (320, 384, 384)


def test_words():
    assert word_bits(16)["acc_t"] == ACC_BITS[16] == 48
    assert word_bits(16)["data_t"] == word_bits(16)["weight_t"] == 16
    assert set(word_bits(32).values()) == {32}
    with pytest.raises(ValueError, match="bits"):
        word_bits(8)
    with pytest.raises(ValueError, match="bits"):
        accelerator_resources(T, bits=8)


@pytest.mark.parametrize("bits", [16, 32])
def test_array_forms_match_scalar(bits):
    """NumPy, jax.numpy and jitted int32 forms give the scalar API's values,
    the largest accepted tiling included (no int32 wrap-around)."""
    ref = [accelerator_resources(t, bits) for t in TILINGS]
    col = lambda xp, f: xp.asarray([getattr(t, f) for t in TILINGS], xp.int32)
    jitted = jax.jit(lambda *a: resources(*a, bits=bits))
    for got in (
        resources(*(col(np, f) for f in TILING_FIELDS), bits=bits, xp=np),
        resources(*(col(jnp, f) for f in TILING_FIELDS), bits=bits),
        jitted(*(col(jnp, f) for f in TILING_FIELDS)),
    ):
        for value, name in zip(got, ("dsp", "bram18", "port_bits"), strict=True):
            assert value.dtype == np.int32
            np.testing.assert_array_equal(value, [getattr(r, name) for r in ref], name)
    assert all(r.bram18 > 0 for r in ref)


def test_bram_grows_with_tk():
    """BRAM never falls as Tk grows (input halo, weight tiles): the grid
    prunes tilings over budget at Tk = 1, a lower bound for any Tk."""
    tk = np.arange(1, 65)
    for bits in (16, 32):
        for t in TILINGS[:4]:
            b = bram18(t.tm, t.tn, t.tr, t.tc, tk, bits, xp=np)
            assert np.all(np.diff(b) >= 0)
            assert b[0] == bram18(t.tm, t.tn, t.tr, t.tc, 1, bits)


def test_input_halo_and_accumulators_are_charged():
    """The two terms the model once left out: a larger kernel's halo costs
    input blocks at the same Tr x Tc, and 48-bit accumulators cost three
    times the blocks of 16-bit words."""
    ibuf = lambda tk: buffer_bram(1, 1, 32, 32, tk, word_bits(16))[0]
    assert ibuf(1).words == 2 * 32 * 32 and ibuf(1).bram18 == 2
    assert ibuf(7).words == 2 * 38 * 38 and ibuf(7).bram18 == 3
    obuf = buffer_bram(1, 1, 32, 32, 1, word_bits(16))[2]
    assert (obuf.banks, obuf.words, obuf.bits, obuf.bram18) == (2, 1024, 48, 6)
