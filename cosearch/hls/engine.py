"""The tiled convolution engine in HLS C++, its on-chip buffers and their cost.

:func:`engine_header` is the text of ``cosearch_engine.h``, one template
``cosearch::conv_layer<Cfg>`` that every stage instantiates with its own
``Cfg`` (tile sizes and word types as compile-time constants). It runs one
layer of docs/design.md section 4's loop nest, with the layer's N, M, R, C,
K, S as run-time arguments, in the ping-pong form of the model (loads
overlap compute, the store of an output tile overlaps the accumulation of
the next):

  for each of ceil(R/Tr) x ceil(C/Tc) x ceil(M/Tm) output tiles:
    init the tile's accumulators with the bias
    for each of ceil(N/Tn) input-channel tiles:
      load a weight tile (Tm x Tn x K x K), load an input tile (Tn channels,
      the tile's rows and columns plus the kernel's halo), compute (the
      Tm x Tn MAC array, K*K*rows*cols pipelined iterations)
    store the tile: ReLU, then BatchNorm as a per-channel scale and shift

An input-row tile ``[t*Tr, min((t+1)*Tr, R))`` computes the outputs ``o``
with ``o*S`` in it, so the tiles cover every output exactly once. Channels,
rows and columns beyond the layer (edge tiles, padding) are loaded as zeros,
so the MAC array always runs its full Tm x Tn. Feature maps in external
memory are CHW, weights OIHW.

The buffers are declared from :data:`BUFFERS` (one definition: the C++
declarations and :func:`buffer_bram` read the same records). With
``-DCOSEARCH_COUNT_LOOPS`` the engine counts its tile iterations
(``cosearch::loop_counts()``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

from cosearch.hardware.layer_model import BRAM_BITS, Tiling, accelerator_resources


class Buffer(NamedTuple):
    """One on-chip array of the engine.

    Attributes:
      name: C++ name.
      word: its word type, a ``Cfg`` typedef ("data_t", "weight_t", ...).
      dims: C++ extents, in ``Cfg`` constants or integers.
      partitioned: 1-based dimensions partitioned completely (one bank per
        index of each).
    """

    name: str
    word: str
    dims: tuple[str, ...]
    partitioned: tuple[int, ...]


# Ping-pong (leading 2) input, weight and output buffers; per-channel bias,
# scale and shift registers of one output-channel tile. The two halves of the
# input and of the weight buffers share a bank (the loader writes one half
# through one port of a dual-port BRAM while the MAC array reads the other
# through the other port); the output buffers' halves are separate banks, as
# the accumulation reads and writes its half every cycle while the store
# reads the other.
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


def buffer_constants(tiling: Tiling) -> dict[str, int]:
    """The ``Cfg`` constants of a stage: tile sizes and the input buffer's
    rows IR = Tr + Tk - 1 and columns IC = Tc + Tk - 1 (a tile's outputs need
    at most (ceil(Tr/S) - 1) S + K <= Tr + K - 1 input rows)."""
    t = tiling
    return {
        "TM": t.tm,
        "TN": t.tn,
        "TR": t.tr,
        "TC": t.tc,
        "TK": t.tk,
        "IR": t.tr + t.tk - 1,
        "IC": t.tc + t.tk - 1,
    }


class BufferBram(NamedTuple):
    """BRAM18K of one generated buffer: banks x ceil(words x bits / 18000).

    A buffer partitioned into single words is registers (0 BRAM).
    """

    name: str
    banks: int
    words: int
    bits: int
    bram18: int


def buffer_bram(tiling: Tiling, word_bits: Mapping[str, int]) -> tuple[BufferBram, ...]:
    """BRAM18K of each buffer of :data:`BUFFERS` for a stage.

    Args:
      tiling: the stage's accelerator.
      word_bits: bits of each word type (``{"data_t": 16, ...}``).

    Returns:
      One :class:`BufferBram` per buffer.
    """
    consts = buffer_constants(tiling)
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
        blocks = 0 if words == 1 else banks * -(-words * bits // BRAM_BITS)
        out.append(BufferBram(buf.name, banks, words, bits, blocks))
    return tuple(out)


class StageResources(NamedTuple):
    """A stage's DSP and BRAM: the generated code's against the cost model's.

    Attributes:
      dsp: the MAC array's multipliers, Tm x Tn (x5 for 32-bit float), the
        rule of :func:`accelerator_resources`.
      dsp_model: the cost model's DSP.
      bram18: sum of the generated buffers' BRAM18K.
      bram18_model: the cost model's BRAM18K.
      buffers: per buffer.
    """

    dsp: int
    dsp_model: int
    bram18: int
    bram18_model: int
    buffers: tuple[BufferBram, ...]


def stage_resources(
    tiling: Tiling, word_bits: Mapping[str, int], bits: int
) -> StageResources:
    """DSP and BRAM of a stage's generated engine and of the cost model.

    Args:
      tiling: the stage's accelerator.
      word_bits: bits of each word type of the build.
      bits: the cost model's word width (16 fixed point, 32 float).
    """
    model = accelerator_resources(tiling, bits)
    dsp = tiling.tm * tiling.tn * (5 if bits == 32 else 1)
    bufs = buffer_bram(tiling, word_bits)
    return StageResources(
        dsp, model.dsp, sum(b.bram18 for b in bufs), model.bram18, bufs
    )


def _declarations() -> str:
    lines = []
    for buf in BUFFERS:
        dims = "".join(f"[{d}]" for d in buf.dims)
        lines.append(f"  static typename Cfg::{buf.word} {buf.name}{dims};")
        for dim in buf.partitioned:
            lines.append(
                f"#pragma HLS ARRAY_PARTITION variable={buf.name} complete dim={dim}"
            )
    return "\n".join(lines)


_ENGINE = r"""// The tiled convolution engine (generated by cosearch.hls).
#ifndef COSEARCH_ENGINE_H
#define COSEARCH_ENGINE_H

#ifndef COSEARCH_FLOAT
#include <ap_fixed.h>
#endif

namespace cosearch {

#ifdef COSEARCH_COUNT_LOOPS
// Tile iterations of one layer (reset by the testbench before each layer).
struct LoopCounts {
  long long weight_loads, input_loads, computes, stores;
};
inline LoopCounts &loop_counts() {
  static LoopCounts counts = {0, 0, 0, 0};
  return counts;
}
#define COSEARCH_COUNT(field) (++::cosearch::loop_counts().field)
#else
#define COSEARCH_COUNT(field) ((void)0)
#endif

inline int cdiv(int a, int b) { return (a + b - 1) / b; }
inline int imin(int a, int b) { return a < b ? a : b; }

// The layer's shape and one output tile's place in it.
struct Shape {
  int N, M, R, C, K, S, P, OR, OC, nr, nc, nm, nn;
};
struct Tile {
  int m0, or0, orows, oc0, ocols;
};

template <class Cfg>
Tile tile_at(const Shape &L, int j) {
  Tile t;
  int mt = j % L.nm, rest = j / L.nm;
  int ct = rest % L.nc, rt = rest / L.nc;
  int r0 = rt * Cfg::TR, r1 = imin(r0 + Cfg::TR, L.R);
  int c0 = ct * Cfg::TC, c1 = imin(c0 + Cfg::TC, L.C);
  t.m0 = mt * Cfg::TM;
  t.or0 = cdiv(r0, L.S);  // outputs o with o*S in [r0, r1)
  t.orows = cdiv(r1, L.S) - t.or0;
  t.oc0 = cdiv(c0, L.S);
  t.ocols = cdiv(c1, L.S) - t.oc0;
  return t;
}

template <class Cfg>
void load_weights(typename Cfg::weight_t wbuf[Cfg::TM][Cfg::TN][Cfg::TK][Cfg::TK],
                  const typename Cfg::weight_t *w, const Shape &L, int m0, int n0) {
  COSEARCH_COUNT(weight_loads);
  for (int m = 0; m < Cfg::TM; m++)
    for (int n = 0; n < Cfg::TN; n++)
      for (int kr = 0; kr < L.K; kr++)
        for (int kc = 0; kc < L.K; kc++) {
#pragma HLS PIPELINE II=1
          bool in_layer = m0 + m < L.M && n0 + n < L.N;
          wbuf[m][n][kr][kc] =
              in_layer ? w[(((m0 + m) * L.N + n0 + n) * L.K + kr) * L.K + kc]
                       : typename Cfg::weight_t(0);
        }
}

template <class Cfg>
void load_input(typename Cfg::data_t ibuf[Cfg::TN][Cfg::IR][Cfg::IC],
                const typename Cfg::data_t *in, const Shape &L, const Tile &t,
                int n0) {
  COSEARCH_COUNT(input_loads);
  int irows = t.orows > 0 ? (t.orows - 1) * L.S + L.K : 0;
  int icols = t.ocols > 0 ? (t.ocols - 1) * L.S + L.K : 0;
  int ir0 = t.or0 * L.S - L.P, ic0 = t.oc0 * L.S - L.P;
  for (int n = 0; n < Cfg::TN; n++)
    for (int i = 0; i < irows; i++)
      for (int jj = 0; jj < icols; jj++) {
#pragma HLS PIPELINE II=1
        int row = ir0 + i, col = ic0 + jj;
        bool in_layer = n0 + n < L.N && row >= 0 && row < L.R && col >= 0 &&
                        col < L.C;
        ibuf[n][i][jj] = in_layer ? in[((n0 + n) * L.R + row) * L.C + col]
                                  : typename Cfg::data_t(0);
      }
}

template <class Cfg>
void compute(typename Cfg::acc_t obuf[Cfg::TM][Cfg::TR][Cfg::TC],
             typename Cfg::weight_t wbuf[Cfg::TM][Cfg::TN][Cfg::TK][Cfg::TK],
             typename Cfg::data_t ibuf[Cfg::TN][Cfg::IR][Cfg::IC], const Shape &L,
             const Tile &t) {
  COSEARCH_COUNT(computes);
  for (int kr = 0; kr < L.K; kr++)
    for (int kc = 0; kc < L.K; kc++)
      for (int r = 0; r < t.orows; r++)
        for (int c = 0; c < t.ocols; c++) {
#pragma HLS PIPELINE II=1
          for (int m = 0; m < Cfg::TM; m++) {
#pragma HLS UNROLL
            typename Cfg::acc_t sum = obuf[m][r][c];
            for (int n = 0; n < Cfg::TN; n++) {
#pragma HLS UNROLL
              sum += wbuf[m][n][kr][kc] * ibuf[n][r * L.S + kr][c * L.S + kc];
            }
            obuf[m][r][c] = sum;
          }
        }
}

// Accumulate one output tile over the input-channel tiles: loads of tile
// i + 1 overlap the compute of tile i (ping-pong buffers).
template <class Cfg>
void accumulate(typename Cfg::acc_t obuf[Cfg::TM][Cfg::TR][Cfg::TC],
                typename Cfg::weight_t wbuf[2][Cfg::TM][Cfg::TN][Cfg::TK][Cfg::TK],
                typename Cfg::data_t ibuf[2][Cfg::TN][Cfg::IR][Cfg::IC],
                typename Cfg::bias_t bias_buf[Cfg::TM],
                const typename Cfg::data_t *in, const typename Cfg::weight_t *w,
                const typename Cfg::bias_t *bias, const Shape &L, const Tile &t) {
  for (int m = 0; m < Cfg::TM; m++) {
#pragma HLS UNROLL
    bias_buf[m] = t.m0 + m < L.M ? bias[t.m0 + m] : typename Cfg::bias_t(0);
  }
  for (int m = 0; m < Cfg::TM; m++)
    for (int r = 0; r < t.orows; r++)
      for (int c = 0; c < t.ocols; c++) {
#pragma HLS PIPELINE II=1
        obuf[m][r][c] = bias_buf[m];
      }
  for (int i = 0; i < L.nn + 1; i++) {
    if (i % 2 == 0) {
      if (i < L.nn) {
        load_weights<Cfg>(wbuf[0], w, L, t.m0, i * Cfg::TN);
        load_input<Cfg>(ibuf[0], in, L, t, i * Cfg::TN);
      }
      if (i > 0) compute<Cfg>(obuf, wbuf[1], ibuf[1], L, t);
    } else {
      if (i < L.nn) {
        load_weights<Cfg>(wbuf[1], w, L, t.m0, i * Cfg::TN);
        load_input<Cfg>(ibuf[1], in, L, t, i * Cfg::TN);
      }
      compute<Cfg>(obuf, wbuf[0], ibuf[0], L, t);
    }
  }
}

// Store one output tile: ReLU, then BatchNorm as y = relu * scale + shift,
// rounded and saturated into data_t.
template <class Cfg>
void store(typename Cfg::acc_t obuf[Cfg::TM][Cfg::TR][Cfg::TC],
           typename Cfg::scale_t scale_buf[Cfg::TM],
           typename Cfg::shift_t shift_buf[Cfg::TM], typename Cfg::data_t *out,
           const typename Cfg::scale_t *scale, const typename Cfg::shift_t *shift,
           const Shape &L, const Tile &t) {
  COSEARCH_COUNT(stores);
  for (int m = 0; m < Cfg::TM; m++) {
#pragma HLS UNROLL
    bool in_layer = t.m0 + m < L.M;
    scale_buf[m] = in_layer ? scale[t.m0 + m] : typename Cfg::scale_t(0);
    shift_buf[m] = in_layer ? shift[t.m0 + m] : typename Cfg::shift_t(0);
  }
  for (int m = 0; m < Cfg::TM; m++) {
    if (t.m0 + m >= L.M) continue;
    for (int r = 0; r < t.orows; r++)
      for (int c = 0; c < t.ocols; c++) {
#pragma HLS PIPELINE II=1
        typename Cfg::acc_t v = obuf[m][r][c];
        if (v < 0) v = 0;
        out[((t.m0 + m) * L.OR + t.or0 + r) * L.OC + t.oc0 + c] =
            typename Cfg::data_t(v * scale_buf[m] + shift_buf[m]);
      }
  }
}

// One layer: conv (N -> M channels, K x K, stride S, zero padding
// P = (K - 1) / 2 before and what ceil(R / S) outputs need after) + bias,
// ReLU, BatchNorm. in: N x R x C, out: M x ceil(R/S) x ceil(C/S) (CHW);
// w: M x N x K x K; bias, scale, shift: M. Needs K <= Cfg::TK.
template <class Cfg>
void conv_layer(const typename Cfg::data_t *in, typename Cfg::data_t *out,
                const typename Cfg::weight_t *w, const typename Cfg::bias_t *bias,
                const typename Cfg::scale_t *scale,
                const typename Cfg::shift_t *shift, int N, int M, int R, int C,
                int K, int S) {
@DECLARATIONS@
  Shape L;
  L.N = N; L.M = M; L.R = R; L.C = C; L.K = K; L.S = S;
  L.P = (K - 1) / 2;
  L.OR = cdiv(R, S); L.OC = cdiv(C, S);
  L.nr = cdiv(R, Cfg::TR); L.nc = cdiv(C, Cfg::TC);
  L.nm = cdiv(M, Cfg::TM); L.nn = cdiv(N, Cfg::TN);
  const int tiles = L.nr * L.nc * L.nm;
  for (int j = 0; j < tiles + 1; j++) {
    if (j % 2 == 0) {
      if (j < tiles)
        accumulate<Cfg>(obuf[0], wbuf, ibuf, bias_buf, in, w, bias, L,
                        tile_at<Cfg>(L, j));
      if (j > 0)
        store<Cfg>(obuf[1], scale_buf, shift_buf, out, scale, shift, L,
                   tile_at<Cfg>(L, j - 1));
    } else {
      if (j < tiles)
        accumulate<Cfg>(obuf[1], wbuf, ibuf, bias_buf, in, w, bias, L,
                        tile_at<Cfg>(L, j));
      store<Cfg>(obuf[0], scale_buf, shift_buf, out, scale, shift, L,
                 tile_at<Cfg>(L, j - 1));
    }
  }
}

}  // namespace cosearch

#endif  // COSEARCH_ENGINE_H
"""


def engine_header() -> str:
    """The text of ``cosearch_engine.h``."""
    return _ENGINE.replace("@DECLARATIONS@", _declarations())
