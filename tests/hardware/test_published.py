"""The memory rule against published accelerators, modelled as built
(cosearch/hardware/published.py has each record's citation and source)."""

import pytest

from cosearch.hardware.published import (
    PUBLISHED,
    modelled_dsp,
    modelled_memory,
    table_markdown,
)
from cosearch.hardware.resources import bank_memory, ramb18_blocks

BY_KEY = {d.key: d for d in PUBLISHED}


@pytest.mark.parametrize("design", PUBLISHED, ids=lambda d: d.key)
def test_bram_within_15_percent_of_the_published(design):
    mem = modelled_memory(design)
    assert abs(mem.bram18 - design.bram18) <= 0.15 * design.bram18, (
        mem.bram18,
        design.bram18,
    )


def test_zhang_fpga15_dsp_exact_and_bram_by_hand():
    d = BY_KEY["zhang_fpga15"]
    # 64 x 7 float multiply-adds, 5 DSP each: 2,240, as published.
    assert modelled_dsp(d) == d.dsp == 2240
    # Separate ping and pong banks: 14 input banks of 59 x 59 = 3,481 words
    # (7 blocks of 512 x 36), 896 weight banks of 121 words (1 block), 128
    # output banks of 169 words (1 block): 98 + 896 + 128 = 1,122, +9.6% on
    # the 1,024 published.
    assert ramb18_blocks(3481, 32) == 7
    assert modelled_memory(d).bram18 == 1122


def test_yolov2_banks_as_the_synthesis_report_has_them():
    d = BY_KEY["yolov2_int16_z7020"]
    # output banks: 676 x 32 bits, 2 blocks each, as the report's rows say.
    assert ramb18_blocks(676, 32) == 2
    # 9-word weight banks: no BRAM (the report: 0 BRAM, flip-flops and LUTs).
    assert bank_memory(9, 16).bram18 == 0
    # Input banks: 2,809 x 16 bits, 3 blocks of 1K x 18 here; the HLS
    # estimate rounds the depth to 4,096 and says 4. With the beta buffer (1):
    # 24 + 128 + 0 + 1 = 153 against the report's 161 for these rows.
    assert ramb18_blocks(2809, 16) == 3
    assert modelled_memory(d).bram18 == 153
    # DSP: the model's 128 multipliers; the compute module reports 130.
    assert modelled_dsp(d) == 128 and d.dsp - modelled_dsp(d) == 2


def test_small_banks_stay_out_of_bram_as_the_tool_keeps_them():
    """Every bank of the ResNet conv1 design is 20-49 words: LUTRAM here,
    0 BRAM18K in the tool's report."""
    d = BY_KEY["resnet_conv1_z7020"]
    mem = modelled_memory(d)
    assert mem.bram18 == d.bram18 == 0 and mem.luts > 0
    assert modelled_dsp(d) == d.dsp == 276


def test_table_lists_every_design():
    text = table_markdown()
    assert all(f"| {d.key} |" in text for d in PUBLISHED)
    assert "+9.6%" in text
