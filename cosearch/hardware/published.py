"""Published accelerators as checks of the memory rule.

Each record describes a loop-tiled accelerator as its authors built it: its
buffers' banks, words and word widths (their ping-pong copies and
partitioning, which may differ from the engine this project exports), the
DSP and BRAM18K they report, and where the figures were read. The model
charges every bank with the one rule of :mod:`cosearch.hardware.resources`
(:func:`bank_memory`: registers, LUTRAM or the fewest RAMB18 blocks) and the
MAC array with :func:`dsp`; ``tests/hardware/test_published.py`` holds the
model to each record, and ``python -m experiments.published_designs``
prints the table (docs/design.md section 4, BUILD_NOTES "Memory rule").
"""

from __future__ import annotations

from typing import NamedTuple

from cosearch.hardware.resources import Memory, bank_memory, dsp


class PublishedBuffer(NamedTuple):
    """One on-chip buffer of a published design.

    Attributes:
      name: the authors' name for it.
      banks: banks (both ping-pong copies counted).
      words: words per bank.
      bits: bits per word.
      ports: port usage of a bank (a key of ``RAMB18_SHAPES``).
    """

    name: str
    banks: int
    words: int
    bits: int
    ports: str = "s2p"


class PublishedDesign(NamedTuple):
    """A published accelerator and its reported resources.

    Attributes:
      key: short name.
      citation: authors, title, venue, year.
      source: where the figures were read.
      device: the FPGA.
      bits: the datapath of the MAC array (16 fixed point or narrower, 32
        float).
      macs: multipliers of the MAC array as built (Tm x Tn, or more where
        a further loop is unrolled).
      tiling: the tile sizes, as the authors give them.
      buffers: the buffers as built.
      dsp: DSP slices reported for the module holding the MAC array.
      bram18: BRAM18K reported for the buffers.
      scope: what the reported figures cover.
    """

    key: str
    citation: str
    source: str
    device: str
    bits: int
    macs: int
    tiling: str
    buffers: tuple[PublishedBuffer, ...]
    dsp: int
    bram18: int
    scope: str


def modelled_memory(design: PublishedDesign) -> Memory:
    """The model's memory of a published design's buffers, bank by bank."""
    total = [0, 0, 0]
    for buf in design.buffers:
        bank = bank_memory(buf.words, buf.bits, buf.ports)
        for i, v in enumerate(bank):
            total[i] += buf.banks * v
    return Memory(*total)


def modelled_dsp(design: PublishedDesign) -> int:
    """The model's DSP of the MAC array: one per multiplier at 16 bits, five
    per float multiply-add at 32 (:func:`dsp`)."""
    return dsp(design.macs, 1, 32 if design.bits == 32 else 16)


PUBLISHED = (
    PublishedDesign(
        key="zhang_fpga15",
        citation=(
            "C. Zhang, P. Li, G. Sun, Y. Guan, B. Xiao, J. Cong, Optimizing "
            "FPGA-based Accelerator Design for Deep Convolutional Neural "
            "Networks, FPGA 2015"
        ),
        source="the paper's resource table (DSP 80%, BRAM 50% of the VX485T)",
        device="XC7VX485T (VC707)",
        bits=32,
        macs=64 * 7,
        tiling="Tm 64, Tn 7, Tr = Tc = 13; AlexNet, K <= 11, S <= 4",
        # Separate ping and pong copies of each buffer; an input bank holds
        # the (Tr - 1) S + K = 59 rows and columns of conv1's stride-4 tile.
        buffers=(
            PublishedBuffer("input", 2 * 7, 59 * 59, 32),
            PublishedBuffer("weight", 2 * 64 * 7, 11 * 11, 32),
            PublishedBuffer("output", 2 * 64, 13 * 13, 32),
        ),
        dsp=2240,
        bram18=1024,
        scope="whole accelerator (post-implementation)",
    ),
    PublishedDesign(
        key="yolov2_int16_z7020",
        citation=(
            "YOLOv2 accelerator, Tn 4, Tm 32, Tr = Tc = 26 (github.com/"
            "dhm2013724/yolov2_xilinx_fpga); synthesis of its fork "
            "github.com/ucaszyzy/project"
        ),
        source=(
            "Vivado HLS 2018.2 csynth.rpt of YOLO2_FPGA for xc7z020clg400-1: "
            "the Memory section's input_buffer*, output_buffer*, "
            "weight_buffer*, beta_buffer rows"
        ),
        device="XC7Z020",
        bits=16,
        macs=32 * 4,
        tiling="Tm 32, Tn 4, Tr = Tc = 26, K 3, S 2",
        # Two copies (ping-pong) of each tile buffer, partitioned over
        # channels; a 53 x 53 input tile ((Tr - 1) S + K), 32-bit partial sums.
        buffers=(
            PublishedBuffer("input_buffer0/1", 2 * 4, 53 * 53, 16),
            PublishedBuffer("output_buffer/1", 2 * 32, 26 * 26, 32),
            PublishedBuffer("weight_buffer0/1", 2 * 32 * 4, 3 * 3, 16),
            PublishedBuffer("beta_buffer", 1, 1024, 16),
        ),
        dsp=130,
        bram18=161,
        scope=(
            "the four buffers' rows of the HLS estimate (32 + 128 + 0 + 1); "
            "DSP of the compute module (its 128 multipliers and 2 more)"
        ),
    ),
    PublishedDesign(
        key="resnet_conv1_z7020",
        citation=(
            "ResNet-50 conv1 (7 x 7, stride 2) tiled accelerator, "
            "github.com/Ritarka/8893Lab2 (2023_Spring/Lab2/PartC)"
        ),
        source=(
            "Vitis HLS 2022.1 tiled_conv_csynth.rpt for xc7z020-clg400-1: "
            "the Memory section (conv_in_buf, conv_wt_buf, conv_out_buf) "
            "and the conv_7x7 instance's DSP"
        ),
        device="XC7Z020",
        bits=16,
        # Tm 4 x Tn 3 unrolled, and the 23 output rows by the pipelining
        macs=4 * 3 * 23,
        tiling="Tm 4, Tn 3, Tr 23, Tc 20, K 7, S 2 (single buffers)",
        # Partitioned on two dimensions: 153 input banks of 46 words, 12
        # weight banks of 49, 92 output banks of 20 (16-bit words).
        buffers=(
            PublishedBuffer("conv_in_buf", 153, 46, 16),
            PublishedBuffer("conv_wt_buf", 12, 49, 16),
            PublishedBuffer("conv_out_buf", 92, 20, 16),
        ),
        dsp=276,
        bram18=0,
        scope="the buffers' rows of the HLS estimate; DSP of conv_7x7",
    ),
)


def table_markdown() -> str:
    """The published design points against the model, as a Markdown table."""
    rows = [
        "| design | device | bits | tiling | DSP published | DSP model "
        "| BRAM18K published | BRAM18K model | BRAM error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for d in PUBLISHED:
        mem = modelled_memory(d)
        if d.bram18:
            err = f"{100 * (mem.bram18 - d.bram18) / d.bram18:+.1f}%"
        else:
            err = "exact" if mem.bram18 == 0 else f"+{mem.bram18} blocks"
        rows.append(
            f"| {d.key} | {d.device} | {d.bits} | {d.tiling} | {d.dsp} "
            f"| {modelled_dsp(d)} | {d.bram18} | {mem.bram18} | {err} |"
        )
    return "\n".join(rows)
