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

The buffers are declared from
:data:`cosearch.hardware.resources.BUFFERS`, the records the cost model
charges memory for (one definition: the C++ declarations and the model's
memory read the same records). Each stage's top function declares them
(:func:`stage_declarations`) with the storage the model gives its banks at
that stage's tiling (``BIND_STORAGE ... impl=bram`` or ``impl=lutram``, or
complete partitioning into registers) and passes them to the engine, so a
``run_hls.tcl`` synthesis is asked for what the model charges. With
``-DCOSEARCH_COUNT_LOOPS`` the engine counts its tile iterations
(``cosearch::loop_counts()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from cosearch.hardware.layer_model import Tiling
from cosearch.hardware.resources import (
    BUFFERS,
    BufferBram,
    accelerator_resources,
    buffer_bram,
    dsp,
    storage,
)
from cosearch.hardware.resources import buffer_constants as _constants


def buffer_constants(tiling: Tiling) -> dict[str, int]:
    """The ``Cfg`` constants of a stage's engine (tile sizes, the input
    buffer's rows and columns with the kernel's halo)."""
    t = tiling
    return _constants(t.tm, t.tn, t.tr, t.tc, t.tk)


class StageResources(NamedTuple):
    """A stage's DSP and memory: the generated code's against the cost
    model's.

    Attributes:
      dsp: the MAC array's multipliers, Tm x Tn (x5 for 32-bit float).
      dsp_model: the cost model's DSP.
      bram18: sum of the generated buffers' BRAM18K at the build's words.
      bram18_model: the cost model's BRAM18K.
      lutram: LUTs of the generated buffers' distributed-RAM banks.
      lutram_model: the cost model's.
      ffs: flip-flops of the generated buffers' register banks.
      ffs_model: the cost model's.
      buffers: per buffer, at the build's words.
    """

    dsp: int
    dsp_model: int
    bram18: int
    bram18_model: int
    lutram: int
    lutram_model: int
    ffs: int
    ffs_model: int
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
    t = tiling
    model = accelerator_resources(tiling, bits)
    bufs = buffer_bram(t.tm, t.tn, t.tr, t.tc, t.tk, word_bits)
    return StageResources(
        dsp(t.tm, t.tn, bits),
        model.dsp,
        sum(b.bram18 for b in bufs),
        model.bram18,
        sum(b.luts for b in bufs),
        model.lutram,
        sum(b.ffs for b in bufs),
        model.ffs,
        bufs,
    )


# The Vitis HLS storage of each kind of bank (:data:`resources.STORAGE`).
_IMPL = {"lutram": "lutram", "bram": "bram"}


def stage_declarations(tiling: Tiling, namespace: str) -> str:
    """A stage top function's buffer declarations and storage pragmas.

    Every buffer of :data:`BUFFERS`, ``static`` and typed from the stage's
    ``namespace`` (its ``Cfg`` and word typedefs), partitioned into the
    record's banks; banks the model keeps in registers are partitioned
    completely (``dim=0``), the others bound to a simple dual-port RAM of
    the model's kind (``BIND_STORAGE type=ram_s2p impl=lutram|bram``).
    """
    t = tiling
    one_bit = {b.word: 1 for b in BUFFERS}  # a bank's storage is set by its words
    bufs = buffer_bram(t.tm, t.tn, t.tr, t.tc, t.tk, one_bit)
    lines = []
    for buf, mem in zip(BUFFERS, bufs, strict=True):
        dims = "".join(
            f"[{d if d.isdigit() else namespace + '::' + d}]" for d in buf.dims
        )
        lines.append(f"  static {namespace}::{buf.word} {buf.name}{dims};")
        kind = storage(mem.words)
        if kind == "registers":
            lines.append(
                f"#pragma HLS ARRAY_PARTITION variable={buf.name} complete dim=0"
            )
            continue
        for dim in buf.partitioned:
            lines.append(
                f"#pragma HLS ARRAY_PARTITION variable={buf.name} complete dim={dim}"
            )
        lines.append(
            f"#pragma HLS BIND_STORAGE variable={buf.name} type=ram_{buf.ports} "
            f"impl={_IMPL[kind]}"
        )
    return "\n".join(lines)


def _parameters() -> str:
    return ",\n".join(
        f"                typename Cfg::{b.word} {b.name}"
        + "".join(f"[{d}]" for d in b.dims)
        for b in BUFFERS
    )


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
// w: M x N x K x K; bias, scale, shift: M. Needs K <= Cfg::TK. The on-chip
// buffers are the calling stage's, declared with their storage there.
template <class Cfg>
void conv_layer(const typename Cfg::data_t *in, typename Cfg::data_t *out,
                const typename Cfg::weight_t *w, const typename Cfg::bias_t *bias,
                const typename Cfg::scale_t *scale,
                const typename Cfg::shift_t *shift, int N, int M, int R, int C,
                int K, int S,
@PARAMETERS@) {
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
    return _ENGINE.replace("@PARAMETERS@", _parameters())
