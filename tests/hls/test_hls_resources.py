"""DSP and BRAM of the generated engine against the cost model's rule."""

from cosearch.hardware.layer_model import Tiling, accelerator_resources
from cosearch.hls.engine import BUFFERS, engine_header, stage_resources
from cosearch.hls.fixed import StageFormat

# OptSW's first stage of the compare run (XC7Z020).
TILING = Tiling(tm=48, tn=1, tr=8, tc=8, tk=5, wp=4, ip=4, op=8)
FORMAT = StageFormat(data_int=6, weight_int=1, guard=6, scale_int=4, shift_int=2)


def test_bram_by_hand_and_against_the_model():
    res = stage_resources(TILING, FORMAT.word_bits(), 16)
    got = {b.name: (b.banks, b.words, b.bits, b.bram18) for b in res.buffers}
    # ibuf: Tn banks of both halves of (Tr+Tk-1) x (Tc+Tk-1) words
    assert got["ibuf"] == (1, 2 * 12 * 12, 16, 1)
    # wbuf: Tm x Tn banks of both halves of Tk x Tk words
    assert got["wbuf"] == (48, 2 * 25, 16, 48)
    # obuf: 2 x Tm banks of Tr x Tc accumulators (38 bits)
    assert got["obuf"] == (96, 64, 38, 96)
    assert got["bias_buf"][3] == got["scale_buf"][3] == got["shift_buf"][3] == 0
    assert res.bram18 == 145
    assert res.bram18_model == accelerator_resources(TILING, 16).bram18 == 146


def test_dsp_is_the_mac_array():
    assert stage_resources(TILING, FORMAT.word_bits(), 16).dsp == 48
    floats = dict.fromkeys(FORMAT.word_bits(), 32)
    res = stage_resources(TILING, floats, 32)
    assert res.dsp == res.dsp_model == 5 * 48


def test_accumulator_width_costs_output_blocks():
    wide = Tiling(tm=4, tn=2, tr=32, tc=32, tk=3, wp=1, ip=1, op=1)
    res = stage_resources(wide, FORMAT.word_bits(), 16)
    obuf = next(b for b in res.buffers if b.name == "obuf")
    # 1024 accumulators of 38 bits: 38,912 bits, 3 blocks per bank
    assert obuf.bram18 == 2 * 4 * 3


def test_declarations_follow_the_buffer_records():
    text = engine_header()
    for buf in BUFFERS:
        dims = "".join(f"[{d}]" for d in buf.dims)
        assert f"static typename Cfg::{buf.word} {buf.name}{dims};" in text
        for dim in range(1, len(buf.dims) + 1):
            pragma = f"ARRAY_PARTITION variable={buf.name} complete dim={dim}"
            assert (pragma in text) == (dim in buf.partitioned)
