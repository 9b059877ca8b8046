"""DSP, memory and ports of one loop-tiled accelerator, from its on-chip buffers.

The accelerator's on-chip arrays are declared once, in :data:`BUFFERS`: the
cost model charges their BRAM18K blocks, LUTRAM LUTs and flip-flops
(:func:`memory`, and the scalar, array and jitted forms below that all call
it), and the HLS exporter declares exactly these arrays, with the storage
charged, in each stage's top function (:mod:`cosearch.hls.engine`), so the
memory a search budgets is the memory the exported code asks the tool for
(docs/design.md section 4.4):

* ``ibuf``: ping-pong input tiles, Tn banks (one per input channel of the
  MAC array), each holding both halves of a tile's rows and columns plus
  the kernel's halo, 2 (Tr + Tk - 1)(Tc + Tk - 1) words (the loader writes
  one half through one port of a dual-port BRAM while the array reads the
  other through the other port);
* ``wbuf``: ping-pong weight tiles, Tm Tn banks of 2 Tk^2 words;
* ``obuf``: ping-pong output tiles of accumulators, 2 Tm banks of Tr Tc
  words (the accumulation reads and writes its half every cycle while the
  store reads the other, so the halves are separate banks), each word
  :data:`ACC_BITS` wide: the partial sums of a tile persist across its
  ceil(N / Tn) input-channel tiles;
* per-channel bias, BatchNorm scale and shift of one output-channel tile,
  partitioned into registers (no BRAM).

Each bank is stored where its size puts it (:func:`bank_memory`,
docs/design.md section 4, "Storage of a bank"):

* fewer than :data:`REGISTER_WORDS` words: flip-flops, words x bits of
  them (Vitis HLS completely partitions arrays below 4 elements by default,
  ``config_array_partition -complete_threshold``, UG1399);
* up to :data:`LUTRAM_WORDS` words: distributed RAM in SLICEM LUTs, 4 LUTs
  per 32 x 6 bits (RAM32M) or, deeper, per 64 x 3 bits (RAM64M) of a
  simple dual-port bank (UG474 / UG574, "Distributed RAM");
* otherwise RAMB18 blocks in the shape that takes fewest of them
  (:data:`RAMB18_SHAPES`: 16K x 1 ... 1K x 18 in true dual-port mode, also
  512 x 36 in simple dual-port mode; UG473 for 7-series RAMB18E1, UG573 for
  UltraScale RAMB18E2), cascaded in depth and in width.

The exported engine declares each buffer's storage with the same rule
(``BIND_STORAGE`` / complete ``ARRAY_PARTITION``, :mod:`cosearch.hls.engine`).
DSP = Tm Tn (16-bit fixed point) or 5 Tm Tn (32-bit float); port bits =
bits (Wp + Ip + Op).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax.numpy as jnp

from cosearch.hardware.layer_model import Tiling, check_bits

# RAMB18 shapes (depth, width) by port usage: a true dual-port bank ("t2p",
# two read/write ports) up to 18 bits wide, a simple dual-port one ("s2p",
# one write and one read port) up to 36 (UG473 table 1-3, UG573 table 1-5).
RAMB18_SHAPES = {
    "t2p": ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18)),
    "s2p": ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)),
}
REGISTER_WORDS = 4  # banks of fewer words are flip-flops
LUTRAM_WORDS = 64  # banks of at most this many words are distributed RAM
STORAGE = ("registers", "lutram", "bram")  # storage of a bank, by size

# Accumulator word of each datapath: a 16-bit fixed-point MAC array sums its
# 32-bit products in 48 bits (a DSP48 slice's accumulator; the exporter
# refuses a stage whose fan-in would need more); a float datapath sums in
# float32.
ACC_BITS = {16: 48, 32: 32}


class Buffer(NamedTuple):
    """One on-chip array of the accelerator.

    Attributes:
      name: its name (the C++ name in the exported engine).
      word: its word type, a ``Cfg`` typedef of the engine ("data_t", ...).
      dims: extents, integers or the ``Cfg`` constants of
        :func:`buffer_constants` ("Cfg::TM", ...).
      partitioned: 1-based dimensions partitioned completely (one bank per
        index of each).
      ports: how a bank's two ports are used, a key of
        :data:`RAMB18_SHAPES`: every bank of the engine has one writer and
        one reader at a time ("s2p").
    """

    name: str
    word: str
    dims: tuple[str, ...]
    partitioned: tuple[int, ...]
    ports: str = "s2p"


BUFFERS = (
    Buffer("ibuf", "data_t", ("2", "Cfg::TN", "Cfg::IR", "Cfg::IC"), (2,)),
    Buffer(
        "wbuf", "weight_t", ("2", "Cfg::TM", "Cfg::TN", "Cfg::TK", "Cfg::TK"), (2, 3)
    ),
    Buffer("obuf", "acc_t", ("2", "Cfg::TM", "Cfg::TR", "Cfg::TC"), (1, 2)),
    Buffer("bias_buf", "bias_t", ("Cfg::TM",), (1,)),
    Buffer("scale_buf", "scale_t", ("Cfg::TM",), (1,)),
    Buffer("shift_buf", "shift_t", ("Cfg::TM",), (1,)),
)


def word_bits(bits: int) -> dict[str, int]:
    """Bits of each word type of a ``bits``-bit datapath (16 or 32).

    16-bit fixed point: data, weights and BatchNorm scale 16, accumulators
    and the bias (added into them) :data:`ACC_BITS`, BatchNorm shift 32;
    32-bit: every word a float32.
    """
    check_bits(bits)
    if bits == 32:
        return dict.fromkeys(
            ("data_t", "weight_t", "acc_t", "bias_t", "scale_t", "shift_t"), 32
        )
    acc = ACC_BITS[bits]
    return {
        "data_t": bits,
        "weight_t": bits,
        "acc_t": acc,
        "bias_t": acc,
        "scale_t": bits,
        "shift_t": 2 * bits,
    }


def buffer_constants(tm, tn, tr, tc, tk) -> dict[str, Any]:
    """The ``Cfg`` constants of an accelerator: tile sizes and the input
    buffer's rows IR = Tr + Tk - 1 and columns IC = Tc + Tk - 1 (a tile's
    outputs need at most (ceil(Tr/S) - 1) S + K <= Tr + K - 1 input rows).
    Ints or integer arrays."""
    return {
        "TM": tm,
        "TN": tn,
        "TR": tr,
        "TC": tc,
        "TK": tk,
        "IR": tr + tk - 1,
        "IC": tc + tk - 1,
    }


class BankMemory(NamedTuple):
    """On-chip memory of one bank (ints or integer arrays): RAMB18 blocks,
    LUTs of distributed RAM and flip-flops; two of the three are 0."""

    bram18: Any
    luts: Any
    ffs: Any


@functools.cache
def _useful_shapes(bits: int, ports: str) -> tuple[tuple[int, int], ...]:
    """(log2 depth, blocks side by side) of the RAMB18 shapes that can be the
    fewest for some depth of a ``bits``-wide bank: a shape 2^k times as deep
    as another but needing at least 2^k times its width in blocks never wins,
    nor one as deep or shallower needing as many or more (the depths are
    powers of two). 16 bits: 1K x 18 alone; 32: 512 x 36 alone."""
    shapes = [(d, -(-bits // w)) for d, w in RAMB18_SHAPES[ports]]

    def beaten(d, f):
        return any(
            (d2, f2) != (d, f)
            and ((d <= d2 and f >= f2) or (d > d2 and f >= f2 * (d // d2)))
            for d2, f2 in shapes
        )

    return tuple((d.bit_length() - 1, f) for d, f in shapes if not beaten(d, f))


def ramb18_blocks(words, bits: int, ports: str = "s2p", xp=None):
    """Fewest RAMB18 blocks that hold ``words`` words of ``bits`` bits: over
    the shapes (depth D, width W) that ``ports`` allows, ceil(words / D)
    ceil(bits / W) blocks (cascaded in depth and width). ``bits`` is a
    Python int; ``words`` an int or an integer array (with ``xp``)."""
    fewest = None
    for shift, side_by_side in _useful_shapes(int(bits), ports):
        n = ((words + ((1 << shift) - 1)) >> shift) * side_by_side
        if fewest is None:
            fewest = n
        elif xp is None:
            fewest = min(fewest, n)
        else:
            fewest = xp.minimum(fewest, n)
    return fewest


def lutram_luts(words, bits, xp=None):
    """LUTs of a simple dual-port distributed RAM of at most
    :data:`LUTRAM_WORDS` words: 4 per RAM32M (32 x 6 bits) when it is at
    most 32 deep, else 4 per RAM64M (64 x 3 bits)."""
    shallow = 4 * -(-bits // 6)
    deep = 4 * -(-bits // 3)
    if xp is None:
        return shallow if words <= 32 else deep
    return xp.where(words <= 32, shallow, deep)


def storage(words: int) -> str:
    """Where a bank of ``words`` words is kept, one of :data:`STORAGE`."""
    if words < REGISTER_WORDS:
        return "registers"
    return "lutram" if words <= LUTRAM_WORDS else "bram"


def bank_memory(words, bits, ports: str = "s2p", xp=None) -> BankMemory:
    """Memory of one bank of ``words`` words of ``bits`` bits, in the
    storage its size puts it (:func:`storage`); ints, or integer arrays
    with ``xp`` (``numpy`` or ``jax.numpy``)."""
    blocks = ramb18_blocks(words, bits, ports, xp)
    luts = lutram_luts(words, bits, xp)
    if xp is None:
        kind = storage(words)
        return BankMemory(
            blocks if kind == "bram" else 0,
            luts if kind == "lutram" else 0,
            words * bits if kind == "registers" else 0,
        )
    words = xp.asarray(words)  # a buffer of constant extents gives an int
    regs = words < REGISTER_WORDS
    lut = ~regs & (words <= LUTRAM_WORDS)
    return BankMemory(
        xp.where(regs | lut, 0, blocks),
        xp.where(lut, luts, 0),
        xp.where(regs, words * bits, 0),
    )


class BufferBram(NamedTuple):
    """Memory of one buffer: ``banks`` banks of ``words`` words of ``bits``
    bits, each in the storage :func:`bank_memory` gives it. Ints or integer
    arrays.

    Attributes:
      bram18: RAMB18 blocks, banks x the blocks of a bank.
      luts: LUTs of distributed RAM, banks x those of a bank.
      ffs: flip-flops, banks x words x bits when the banks are registers.
    """

    name: str
    banks: Any
    words: Any
    bits: int
    bram18: Any
    luts: Any
    ffs: Any


def buffer_bram(
    tm, tn, tr, tc, tk, word_bits: Mapping[str, int], xp=None
) -> tuple[BufferBram, ...]:
    """Memory of each buffer of :data:`BUFFERS`.

    Args:
      tm, tn, tr, tc, tk: the accelerator's tile sizes: Python ints, or
        integer arrays that broadcast together.
      word_bits: bits of each word type (:func:`word_bits`, or an exported
        build's own).
      xp: ``numpy`` or ``jax.numpy`` for arrays; None for Python ints.

    Returns:
      One :class:`BufferBram` per buffer, in the order of :data:`BUFFERS`.
    """
    consts = buffer_constants(tm, tn, tr, tc, tk)
    out = []
    for buf in BUFFERS:
        extents = [
            int(d) if d.isdigit() else consts[d.removeprefix("Cfg::")] for d in buf.dims
        ]
        banks = math.prod(e for i, e in enumerate(extents, 1) if i in buf.partitioned)
        words = math.prod(
            e for i, e in enumerate(extents, 1) if i not in buf.partitioned
        )
        bits = int(word_bits[buf.word])
        bank = bank_memory(words, bits, buf.ports, xp)
        out.append(
            BufferBram(
                buf.name,
                banks,
                words,
                bits,
                banks * bank.bram18,
                banks * bank.luts,
                banks * bank.ffs,
            )
        )
    return tuple(out)


class Memory(NamedTuple):
    """On-chip memory of an accelerator: RAMB18 blocks, LUTs of distributed
    RAM, flip-flops of register banks (ints or integer arrays)."""

    bram18: Any
    luts: Any
    ffs: Any


def memory(tm, tn, tr, tc, tk, bits: int, xp=None) -> Memory:
    """Memory of an accelerator: the sums of :func:`buffer_bram` at the words
    of a ``bits``-bit datapath (:func:`word_bits`)."""
    bufs = buffer_bram(tm, tn, tr, tc, tk, word_bits(bits), xp)
    return Memory(*(sum(getattr(b, f) for b in bufs) for f in Memory._fields))


def bram18(tm, tn, tr, tc, tk, bits: int, xp=None):
    """RAMB18 blocks of an accelerator (:func:`memory`)."""
    return memory(tm, tn, tr, tc, tk, bits, xp).bram18


def dsp(tm, tn, bits: int):
    """DSP slices of the Tm x Tn MAC array: Tm Tn at 16 bits, 5 Tm Tn at 32."""
    check_bits(bits)
    return tm * tn * (5 if bits == 32 else 1)


@dataclasses.dataclass(frozen=True)
class Resources:
    """Resources of one accelerator.

    Attributes:
      dsp: DSP slices, Tm*Tn (16-bit) or 5*Tm*Tn (32-bit float).
      bram18: RAMB18 blocks of its buffers (:func:`memory`).
      lutram: LUTs of its distributed-RAM banks.
      ffs: flip-flops of its register banks.
      port_bits: off-chip port bits per cycle, bits * (Wp + Ip + Op).
    """

    dsp: int
    bram18: int
    lutram: int
    ffs: int
    port_bits: int


def accelerator_resources(tiling: Tiling, bits: int = 16) -> Resources:
    """DSP, memory and port bits of one accelerator (Python ints)."""
    check_bits(bits)
    T = tiling
    mem = memory(T.tm, T.tn, T.tr, T.tc, T.tk, bits)
    return Resources(
        dsp=dsp(T.tm, T.tn, bits),
        bram18=mem.bram18,
        lutram=mem.luts,
        ffs=mem.ffs,
        port_bits=bits * (T.wp + T.ip + T.op),
    )


class ResourceArrays(NamedTuple):
    """:class:`Resources` as int32 arrays of one broadcast shape."""

    dsp: Any
    bram18: Any
    lutram: Any
    ffs: Any
    port_bits: Any


def resources(tm, tn, tr, tc, tk, wp, ip, op, bits: int = 16, xp=jnp) -> ResourceArrays:
    """Array form of :func:`accelerator_resources` (``bits`` is static):
    elementwise over integer ``numpy`` or ``jax.numpy`` arrays (or ints) that
    broadcast together, jitted or not."""
    check_bits(bits)
    tm, tn, tr, tc, tk, wp, ip, op = (
        xp.asarray(v, xp.int32) for v in (tm, tn, tr, tc, tk, wp, ip, op)
    )
    i32 = lambda v: xp.asarray(v).astype(xp.int32)
    mem = memory(tm, tn, tr, tc, tk, bits, xp)
    return ResourceArrays(
        i32(dsp(tm, tn, bits)),
        i32(mem.bram18),
        i32(mem.luts),
        i32(mem.ffs),
        i32(bits * (wp + ip + op)),
    )
