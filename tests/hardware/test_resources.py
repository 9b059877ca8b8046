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
    LUTRAM_WORDS,
    RAMB18_SHAPES,
    REGISTER_WORDS,
    BankMemory,
    accelerator_resources,
    bank_memory,
    bram18,
    buffer_bram,
    ramb18_blocks,
    resources,
    storage,
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
    # ibuf: Tn = 4 banks of 2 (64+2)(64+2) = 8,712 words x 16 bits: 9 blocks of
    #   1K x 18 (2K x 9: 5 x 2 = 10, 512 x 36: 18, 4K x 4: 3 x 4 = 12), 36;
    # wbuf: Tm Tn = 64 banks of 2 * 3 * 3 = 18 words: LUTRAM, 4 ceil(16 / 6) =
    #   12 LUTs each (RAM32M), 768;
    # obuf: 2 Tm = 32 banks of 64 * 64 = 4,096 accumulators x 48 bits: 12
    #   blocks (1K x 18: 4 x 3; 512 x 36: 8 x 2 = 16), 384;
    # bias, scale, shift: 16 banks of one word each, registers: 16 (48 + 16 +
    #   32) = 1,536 flip-flops;
    # total 420 BRAM18; DSP 16 * 4 = 64; ports 16 (4 + 4 + 4) = 192.
    bufs = {b.name: b for b in buffer_bram(16, 4, 64, 64, 3, word_bits(16))}
    assert {k: b.bram18 for k, b in bufs.items()} == {
        "ibuf": 36,
        "wbuf": 0,
        "obuf": 384,
        "bias_buf": 0,
        "scale_buf": 0,
        "shift_buf": 0,
    }
    assert bufs["wbuf"].luts == 768 and bufs["ibuf"].luts == bufs["obuf"].luts == 0
    assert bufs["bias_buf"].ffs == 16 * 48 and bufs["shift_buf"].ffs == 16 * 32
    r = accelerator_resources(T, 16)
    assert (r.dsp, r.bram18, r.lutram, r.ffs, r.port_bits) == (64, 420, 768, 1536, 192)


def test_golden_32_bit():
    # ibuf: 4 x 18 (8,712 x 32 bits: 512 x 36 x 18 or 1K x 18 x 9 x 2) = 72;
    # wbuf: 64 banks of 18 words, 4 ceil(32 / 6) = 24 LUTs each, 1,536;
    # obuf: 32 x 8 (4,096 x 32: 512 x 36 x 8) = 256 (float accumulators);
    # bias, scale, shift: 3 x 16 x 32 = 1,536 flip-flops;
    # total 328 BRAM18; DSP 5 * 64 = 320; ports 32 * 12 = 384.
    r = accelerator_resources(T, 32)
    assert (r.dsp, r.bram18, r.lutram, r.ffs, r.port_bits) == (
        320,
        328,
        1536,
        1536,
        384,
    )


def test_bank_blocks_by_hand_from_the_shape_table():
    """Blocks of single banks, worked from UG473's RAMB18 shapes."""
    # 1,058 words x 32 bits (an input tile of Zhang et al., 2 x 23 x 23): two
    # 512 x 36 blocks hold 1,024 words, so 3; 1K x 18 needs 2 deep x 2 wide = 4.
    assert ramb18_blocks(1058, 32) == 3
    # 1,100 words x 16 bits: 2 blocks of 1K x 18 (the bit count, 17,600, would
    # say 1); 512 x 36 would take 3.
    assert ramb18_blocks(1100, 16) == 2
    # 512 x 36: one block in simple dual-port mode; true dual-port stops at 18
    # bits wide, so 1K x 18 twice side by side.
    assert ramb18_blocks(512, 36, "s2p") == 1
    assert ramb18_blocks(512, 36, "t2p") == 2
    # 2,049 words x 9 bits: 2K x 9 needs 2 deep; 4K x 4 needs 3 wide; 2.
    assert ramb18_blocks(2049, 9) == 2
    # 16,384 x 1: one block; 16,385 x 1: two.
    assert (ramb18_blocks(16384, 1), ramb18_blocks(16385, 1)) == (1, 2)


def test_bank_storage_follows_its_size():
    # Fewer than 4 words: flip-flops, words x bits.
    assert storage(3) == "registers"
    assert bank_memory(3, 16) == BankMemory(0, 0, 48)
    # 4 to 32 words: RAM32M, 4 LUTs per 6 bits; 33 to 64: RAM64M, per 3 bits.
    assert storage(4) == storage(64) == "lutram"
    assert bank_memory(32, 16) == BankMemory(0, 4 * 3, 0)
    assert bank_memory(33, 16) == BankMemory(0, 4 * 6, 0)
    assert bank_memory(64, 48) == BankMemory(0, 4 * 16, 0)
    # More than 64: RAMB18 blocks.
    assert storage(65) == "bram"
    assert bank_memory(65, 48) == BankMemory(2, 0, 0)
    assert LUTRAM_WORDS == 64 and REGISTER_WORDS == 4
    # The array form gives the same, element by element.
    words = np.array([1, 3, 4, 18, 32, 33, 64, 65, 1058, 8712])
    for bits in (16, 32, 48):
        got = bank_memory(words, bits, xp=np)
        want = [bank_memory(int(w), bits) for w in words]
        for i, f in enumerate(BankMemory._fields):
            np.testing.assert_array_equal(got[i], [getattr(w, f) for w in want], f)


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
        for value, name in zip(got, got._fields, strict=True):
            assert value.dtype == np.int32
            np.testing.assert_array_equal(value, [getattr(r, name) for r in ref], name)
    assert all(r.bram18 + r.lutram + r.ffs > 0 for r in ref)


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


@pytest.mark.parametrize("ports", ["s2p", "t2p"])
def test_fewest_blocks_equal_the_brute_force_over_every_shape(ports):
    """The rule skips shapes that can never be the fewest; the minimum over
    all of them, by brute force, is the same for every width and depth."""
    words = np.concatenate([np.arange(1, 4200), [8191, 8192, 8193, 16385, 40000]])
    for bits in range(1, 73):
        brute = np.min(
            [
                -(-words // depth) * -(-bits // width)
                for depth, width in RAMB18_SHAPES[ports]
            ],
            axis=0,
        )
        np.testing.assert_array_equal(ramb18_blocks(words, bits, ports, np), brute)
        assert ramb18_blocks(int(words[100]), bits, ports) == brute[100]
