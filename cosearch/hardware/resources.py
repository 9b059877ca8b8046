"""DSP, BRAM and ports of one loop-tiled accelerator, from its on-chip buffers.

The accelerator's on-chip arrays are declared once, in :data:`BUFFERS`: the
cost model charges their BRAM18K blocks (:func:`bram18`, and the scalar,
array and jitted forms below that all call it), and the HLS exporter
declares exactly these arrays in the engine it generates
(:mod:`cosearch.hls.engine`), so the BRAM a search budgets is the BRAM of
the code it exports (docs/design.md section 4, "Resources"):

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

A buffer takes ``banks * ceil(words * word_bits / 18000)`` blocks, 0 when a
bank is one word (a register). DSP = Tm Tn (16-bit fixed point) or 5 Tm Tn
(32-bit float); port bits = bits (Wp + Ip + Op).

Integers stay below 2**31 for every accepted tiling
(:data:`cosearch.hardware.layer_model.MAX_TILE`, ``MAX_KERNEL``), so the
same integer code serves Python ints, NumPy and jitted ``jax.numpy`` int32.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax.numpy as jnp

from cosearch.hardware.layer_model import Tiling, check_bits

BRAM_BITS = 18000  # bits per BRAM18K block, as in docs/design.md section 4

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
    """

    name: str
    word: str
    dims: tuple[str, ...]
    partitioned: tuple[int, ...]


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


class BufferBram(NamedTuple):
    """BRAM18K of one buffer: ``banks * ceil(words * bits / 18000)``, 0 when a
    bank is one word (a register). Ints or integer arrays."""

    name: str
    banks: Any
    words: Any
    bits: int
    bram18: Any


def buffer_bram(
    tm, tn, tr, tc, tk, word_bits: Mapping[str, int], xp=None
) -> tuple[BufferBram, ...]:
    """BRAM18K of each buffer of :data:`BUFFERS`.

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
        per_bank = -(-(words * bits) // BRAM_BITS)
        if xp is None:
            blocks = 0 if words == 1 else banks * per_bank
        else:
            blocks = xp.where(words == 1, 0, banks * per_bank)
        out.append(BufferBram(buf.name, banks, words, bits, blocks))
    return tuple(out)


def bram18(tm, tn, tr, tc, tk, bits: int, xp=None):
    """BRAM18K blocks of an accelerator: the sum of :func:`buffer_bram` at
    the words of a ``bits``-bit datapath (:func:`word_bits`)."""
    return sum(b.bram18 for b in buffer_bram(tm, tn, tr, tc, tk, word_bits(bits), xp))


def dsp(tm, tn, bits: int):
    """DSP slices of the Tm x Tn MAC array: Tm Tn at 16 bits, 5 Tm Tn at 32."""
    check_bits(bits)
    return tm * tn * (5 if bits == 32 else 1)


@dataclasses.dataclass(frozen=True)
class Resources:
    """Resources of one accelerator.

    Attributes:
      dsp: DSP slices, Tm*Tn (16-bit) or 5*Tm*Tn (32-bit float).
      bram18: BRAM18K blocks of its buffers (:func:`bram18`).
      port_bits: off-chip port bits per cycle, bits * (Wp + Ip + Op).
    """

    dsp: int
    bram18: int
    port_bits: int


def accelerator_resources(tiling: Tiling, bits: int = 16) -> Resources:
    """DSP, BRAM18K and port bits of one accelerator (Python ints)."""
    check_bits(bits)
    T = tiling
    return Resources(
        dsp=dsp(T.tm, T.tn, bits),
        bram18=bram18(T.tm, T.tn, T.tr, T.tc, T.tk, bits),
        port_bits=bits * (T.wp + T.ip + T.op),
    )


def resources(tm, tn, tr, tc, tk, wp, ip, op, bits: int = 16, xp=jnp):
    """Array form of :func:`accelerator_resources` (``bits`` is static):
    elementwise over integer ``numpy`` or ``jax.numpy`` arrays (or ints) that
    broadcast together, jitted or not.

    Returns:
      (dsp, bram18, port_bits), int32 arrays of the broadcast shape.
    """
    check_bits(bits)
    tm, tn, tr, tc, tk, wp, ip, op = (
        xp.asarray(v, xp.int32) for v in (tm, tn, tr, tc, tk, wp, ip, op)
    )
    i32 = lambda v: xp.asarray(v).astype(xp.int32)
    return (
        i32(dsp(tm, tn, bits)),
        i32(bram18(tm, tn, tr, tc, tk, bits, xp)),
        i32(bits * (wp + ip + op)),
    )
