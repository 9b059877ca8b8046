"""DSP and memory of the generated engine against the cost model's rule."""

import types

import numpy as np
import pytest

from cosearch.hardware.layer_model import Tiling
from cosearch.hardware.resources import (
    BUFFERS,
    accelerator_resources,
    storage,
    word_bits,
)
from cosearch.hls.engine import engine_header, stage_declarations, stage_resources
from cosearch.hls.fixed import StageFormat, choose_formats
from cosearch.hls.network import FoldedLayer

# OptSW's first stage of the compare run (XC7Z020).
TILING = Tiling(tm=48, tn=1, tr=8, tc=8, tk=5, wp=4, ip=4, op=8)
FORMAT = StageFormat(data_int=6, weight_int=1, guard=6, scale_int=4, shift_int=2)
TILINGS = [
    TILING,
    Tiling(tm=4, tn=2, tr=32, tc=32, tk=3, wp=1, ip=1, op=1),
    Tiling(tm=64, tn=16, tr=28, tc=28, tk=5, wp=16, ip=8, op=8),
    Tiling(tm=64, tn=24, tr=14, tc=7, tk=3, wp=8, ip=8, op=4),
    Tiling(tm=3, tn=5, tr=1, tc=1, tk=1, wp=1, ip=1, op=1),
]


def test_bram_by_hand():
    res = stage_resources(TILING, FORMAT.word_bits(), 16)
    got = {b.name: (b.banks, b.words, b.bits, b.bram18) for b in res.buffers}
    # ibuf: Tn banks of both halves of (Tr+Tk-1) x (Tc+Tk-1) words: 288 x 16,
    # one 1K x 18 block
    assert got["ibuf"] == (1, 2 * 12 * 12, 16, 1)
    # wbuf: Tm x Tn banks of both halves of Tk x Tk words: 50 words, LUTRAM
    # (RAM64M: 4 LUTs per 3 bits, 24 a bank)
    assert got["wbuf"] == (48, 2 * 25, 16, 0)
    # obuf: 2 x Tm banks of Tr x Tc = 64 48-bit accumulators: LUTRAM, 64 LUTs
    assert got["obuf"] == (96, 64, 48, 0)
    assert got["bias_buf"][3] == got["scale_buf"][3] == got["shift_buf"][3] == 0
    assert res.bram18 == 1
    assert res.lutram == 48 * 24 + 96 * 64 == res.lutram_model


@pytest.mark.parametrize("tiling", TILINGS)
def test_generated_buffers_are_what_the_model_charges(tiling):
    """Both builds' buffers, at their own declared word widths, take exactly
    the BRAM18K and DSP the cost model charges."""
    fixed = stage_resources(tiling, FORMAT.word_bits(), 16)
    assert (fixed.bram18, fixed.dsp) == (fixed.bram18_model, fixed.dsp_model)
    assert (fixed.lutram, fixed.ffs) == (fixed.lutram_model, fixed.ffs_model)
    assert fixed.bram18 == accelerator_resources(tiling, 16).bram18
    flt = stage_resources(tiling, word_bits(32), 32)
    assert (flt.bram18, flt.dsp) == (flt.bram18_model, flt.dsp_model)
    assert flt.dsp == 5 * tiling.tm * tiling.tn


def test_fixed_words_are_the_models():
    """The fixed build's C++ types have the widths the model charges."""
    assert FORMAT.word_bits() == word_bits(16)
    for word, ctype in FORMAT.typedefs().items():
        width = int(ctype.split("<")[1].split(",")[0])
        assert width == word_bits(16)[word], word


def test_accumulator_width_costs_output_blocks():
    wide = TILINGS[1]
    res = stage_resources(wide, FORMAT.word_bits(), 16)
    obuf = next(b for b in res.buffers if b.name == "obuf")
    # 1024 accumulators of 48 bits: 49,152 bits, 3 blocks per bank, 8 banks
    assert obuf.bram18 == 2 * 4 * 3


def test_stage_needing_wider_accumulators_is_refused():
    """A fan-in of 2^15 (N K^2 = 128 x 16 x 16) needs 17 guard bits, more
    than the 48-bit accumulator has: refused, not truncated."""
    rng = np.random.default_rng(0)
    n, k = 128, 16
    layer = FoldedLayer(
        kernel=rng.normal(size=(2, n, k, k)).astype(np.float32) * 0.01,
        bias=np.zeros(2, np.float32),
        scale=np.ones(2, np.float32),
        shift=np.zeros(2, np.float32),
        stride=1,
    )
    net = types.SimpleNamespace(layers=(layer,))  # what choose_formats reads
    calib = [np.ones((1, 4, 4, n), np.float32), np.ones((1, 4, 4, 2), np.float32)]
    with pytest.raises(ValueError, match="48 bits"):
        choose_formats(net, [[0]], calib)


def test_declarations_follow_the_buffer_records():
    text = engine_header()
    for buf in BUFFERS:
        dims = "".join(f"[{d}]" for d in buf.dims)
        assert f"typename Cfg::{buf.word} {buf.name}{dims}" in text
        assert f"variable={buf.name}" not in text  # declared by each stage


@pytest.mark.parametrize("tiling", TILINGS)
def test_stage_declares_the_storage_the_model_charges(tiling):
    """Each stage's buffers carry the pragmas of the storage the model gives
    their banks: registers (complete partition), LUTRAM or BRAM (simple
    dual-port BIND_STORAGE), partitioned into the record's banks."""
    text = stage_declarations(tiling, "stage0")
    bufs = stage_resources(tiling, FORMAT.word_bits(), 16).buffers
    for buf, mem in zip(BUFFERS, bufs, strict=True):
        dims = "".join(f"[{d.replace('Cfg::', 'stage0::Cfg::')}]" for d in buf.dims)
        assert f"static stage0::{buf.word} {buf.name}{dims};" in text
        kind = storage(mem.words)
        pragmas = [ln for ln in text.splitlines() if f"variable={buf.name} " in ln]
        if kind == "registers":
            assert pragmas == [
                f"#pragma HLS ARRAY_PARTITION variable={buf.name} complete dim=0"
            ]
            assert mem.bram18 == mem.luts == 0 and mem.ffs > 0
            continue
        assert pragmas == [
            f"#pragma HLS ARRAY_PARTITION variable={buf.name} complete dim={d}"
            for d in buf.partitioned
        ] + [f"#pragma HLS BIND_STORAGE variable={buf.name} type=ram_s2p impl={kind}"]
        assert (mem.bram18 > 0) == (kind == "bram") and (mem.luts > 0) == (
            kind == "lutram"
        )


def test_every_storage_kind_is_declared_somewhere():
    """The tilings above exercise registers, LUTRAM and BRAM banks."""
    kinds = {
        storage(b.words)
        for t in TILINGS
        for b in stage_resources(t, FORMAT.word_bits(), 16).buffers
    }
    assert kinds == {"registers", "lutram", "bram"}
