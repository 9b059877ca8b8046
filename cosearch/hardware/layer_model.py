"""One layer on one loop-tiled accelerator: cycles and bottleneck.

The tile model of docs/design.md section 4 (Zhang et al., FPGA'15 style), in
three forms kept independent on purpose, so that each checks the others (the
tests compare them value for value):

* a scalar host API (:func:`layer_cost`) on plain Python numbers, for a user
  checking a hand calculation and as the basis of the scalar reference
  :mod:`oracles.reference`;
* an integer array form (:func:`layer_cycles`) that works elementwise on
  ``numpy`` or ``jax.numpy`` arrays of any (broadcast) shape, with exact
  integer ceilings: the building block of the NumPy peer
  :mod:`oracles.cost_numpy`;
* a float32 form for the jitted code (:func:`layer_terms`): the one
  definition of these rules on the JAX side, used by the cost model
  (:mod:`cosearch.hardware.cost_model`), the partition DP
  (:func:`cosearch.hardware.partition.range_cycles`) and the design
  optimizer. Ceilings there are float32 divisions of integers, exact below
  2**24, which XLA vectorises on CPU where integer division is not.

An accelerator's DSP, BRAM and ports are :mod:`cosearch.hardware.resources`.

Units: cycles of the accelerator clock; port widths in words per cycle.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax.numpy as jnp

from cosearch.hardware.geometry import out_size

SUPPORTED_BITS = (16, 32)

# Largest accepted sizes. Far beyond any network or FPGA accelerator, and
# small enough that every integer the models form stays below 2**31 (DSP =
# Tm * Tn, BRAM counts, port bits) or is formed in float32 (MACs, cycles).
MAX_LAYER_DIM = 1 << 16  # channels, rows, columns, batch
MAX_KERNEL = 64  # kernel size, stride and Tk
MAX_TILE = 4096  # Tm, Tn, Tr, Tc, Wp, Ip, Op


def check_size(what: str, value, limit: int) -> int:
    """``value`` as a positive int no larger than ``limit``, else ValueError."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    if value > limit:
        raise ValueError(f"{what} = {value} exceeds the largest accepted, {limit}")
    return value


# Bottleneck codes, in the order they win ties.
COMPUTE, INPUT_LOAD, WEIGHT_LOAD, OUTPUT_STORE = 0, 1, 2, 3
BOTTLENECK_NAMES = ("compute", "input load", "weight load", "output store")


@dataclasses.dataclass(frozen=True)
class Layer:
    """One convolution layer.

    Attributes:
      n: input channels N.
      m: output channels M.
      r: input rows R.
      c: input columns C.
      k: square kernel K.
      s: stride S.
      b: batch B (1 for streaming).
    """

    n: int
    m: int
    r: int
    c: int
    k: int
    s: int = 1
    b: int = 1

    def __post_init__(self):
        for f in dataclasses.fields(self):
            limit = MAX_KERNEL if f.name in ("k", "s") else MAX_LAYER_DIM
            check_size(f"Layer.{f.name}", getattr(self, f.name), limit)

    @property
    def out_rows(self) -> int:
        """Output rows with same padding, ceil(R / S)."""
        return out_size(self.r, self.s)

    @property
    def out_cols(self) -> int:
        """Output columns with same padding, ceil(C / S)."""
        return out_size(self.c, self.s)

    @property
    def macs(self) -> int:
        """Multiply-accumulates per image: M * N * K^2 * ceil(R/S) * ceil(C/S)."""
        return self.m * self.n * self.k**2 * self.out_rows * self.out_cols


@dataclasses.dataclass(frozen=True)
class Tiling:
    """The design parameters of one loop-tiled accelerator.

    Attributes:
      tm: output-channel tile Tm.
      tn: input-channel tile Tn (the MAC array is Tm x Tn).
      tr: input-row tile Tr.
      tc: input-column tile Tc.
      tk: largest kernel supported Tk.
      wp: weight-port words per cycle Wp.
      ip: input-port words per cycle Ip.
      op: output-port words per cycle Op.
    """

    tm: int
    tn: int
    tr: int
    tc: int
    tk: int
    wp: int
    ip: int
    op: int

    def __post_init__(self):
        for f in dataclasses.fields(self):
            limit = MAX_KERNEL if f.name == "tk" else MAX_TILE
            check_size(f"Tiling.{f.name}", getattr(self, f.name), limit)

    def as_tuple(self) -> tuple[int, ...]:
        return dataclasses.astuple(self)


TILING_FIELDS = tuple(f.name for f in dataclasses.fields(Tiling))


@dataclasses.dataclass(frozen=True)
class LayerCost:
    """Cycles of one layer on one accelerator (docs/design.md section 4).

    Attributes:
      cycles: lat, cycles for the whole layer (``b`` images).
      bottleneck: code of the term setting lat1/lat2 (see BOTTLENECK_NAMES).
      t_weight: tW, cycles to load one weight tile.
      t_input: tI, cycles to load one input tile.
      t_output: tO, cycles to store one output tile.
      t_compute: tC, cycles the MAC array is busy per tile.
      lat1: max(tI, tW, tC).
      lat2: max(ceil(N / Tn) * lat1, tO).
      tiles: B * ceil(R/Tr) * ceil(C/Tc) * ceil(M/Tm).
    """

    cycles: float
    bottleneck: int
    t_weight: float
    t_input: float
    t_output: float
    t_compute: float
    lat1: float
    lat2: float
    tiles: int

    @property
    def bottleneck_name(self) -> str:
        return BOTTLENECK_NAMES[self.bottleneck]


def check_bits(bits: int) -> None:
    """ValueError unless ``bits`` is a supported word width (16 or 32)."""
    if bits not in SUPPORTED_BITS:
        raise ValueError(f"bits must be one of {SUPPORTED_BITS}, got {bits!r}")


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def layer_cost(layer: Layer, tiling: Tiling, bits: int = 16) -> LayerCost:
    """Cycles and bottleneck of ``layer`` on an accelerator tiled as ``tiling``.

    Implements docs/design.md section 4, "Per-layer latency":
    tW = Tm Tn K^2 / Wp; tI = min(Tn,N) min(Tr,R) min(Tc,C) / Ip;
    tO = min(Tm,M) ceil(min(Tr,R)/S) ceil(min(Tc,C)/S) / Op;
    tC = K^2 ceil(min(Tr,R+2P)/S) ceil(min(Tc,C+2P)/S);
    lat1 = max(tI,tW,tC); lat2 = max(ceil(N/Tn) lat1, tO);
    lat = B ceil(R/Tr) ceil(C/Tc) ceil(M/Tm) lat2.

    ``bits`` does not change cycles (ports are counted in words); it is
    accepted so the signature matches
    :func:`cosearch.hardware.resources.accelerator_resources`.
    """
    check_bits(bits)
    L, T = layer, tiling
    p = (L.k - 1) // 2
    t_w = T.tm * T.tn * L.k**2 / T.wp
    t_i = min(T.tn, L.n) * min(T.tr, L.r) * min(T.tc, L.c) / T.ip
    t_o = (
        min(T.tm, L.m) * _cdiv(min(T.tr, L.r), L.s) * _cdiv(min(T.tc, L.c), L.s) / T.op
    )
    t_c = (
        L.k**2 * _cdiv(min(T.tr, L.r + 2 * p), L.s) * _cdiv(min(T.tc, L.c + 2 * p), L.s)
    )
    lat1 = max(t_i, t_w, t_c)
    acc = _cdiv(L.n, T.tn) * lat1
    lat2 = max(acc, t_o)
    tiles = L.b * _cdiv(L.r, T.tr) * _cdiv(L.c, T.tc) * _cdiv(L.m, T.tm)
    if t_o > acc:
        bottleneck = OUTPUT_STORE
    elif t_c >= t_i and t_c >= t_w:
        bottleneck = COMPUTE
    elif t_i >= t_w:
        bottleneck = INPUT_LOAD
    else:
        bottleneck = WEIGHT_LOAD
    return LayerCost(
        cycles=tiles * lat2,
        bottleneck=bottleneck,
        t_weight=t_w,
        t_input=t_i,
        t_output=t_o,
        t_compute=float(t_c),
        lat1=lat1,
        lat2=lat2,
        tiles=tiles,
    )


# ----------------------------------------------------------------------------
# Array versions: elementwise over broadcastable jnp / np arrays.
# ----------------------------------------------------------------------------


def _acdiv(a, b, xp):
    """ceil(a / b) for positive integer arrays."""
    return -xp.floor_divide(-a, b)


def layer_cycles(n, m, r, c, k, s, tm, tn, tr, tc, wp, ip, op, b=1, xp=jnp):
    """Array form of :func:`layer_cost`: cycles and bottleneck code.

    All arguments are integer arrays (or ints) that broadcast together: layer
    shape (n, m, r, c, k, s, b) and tiling (tm, tn, tr, tc, wp, ip, op).
    Products are formed in float32 from int32 factors (exact below 2**24,
    and free of int32 wrap-around for layers of any accepted size), so
    results match the scalar API to float32 rounding.

    Returns:
      cycles: float32 array, lat of docs/design.md section 4 (cycles).
      bottleneck: int32 array of bottleneck codes (COMPUTE, INPUT_LOAD, ...).
    """
    f32 = xp.float32
    n, m, r, c, k, s, tm, tn, tr, tc, wp, ip, op, b = (
        xp.asarray(v, xp.int32)
        for v in (n, m, r, c, k, s, tm, tn, tr, tc, wp, ip, op, b)
    )
    p = (k - 1) // 2
    mn = xp.minimum

    def prod(*factors):  # a product of int32 arrays, formed in float32
        out = factors[0].astype(f32)
        for v in factors[1:]:
            out = out * v.astype(f32)
        return out

    t_w = prod(tm, tn, k, k) / wp.astype(f32)
    t_i = prod(mn(tn, n), mn(tr, r), mn(tc, c)) / ip.astype(f32)
    t_o = prod(mn(tm, m), _acdiv(mn(tr, r), s, xp), _acdiv(mn(tc, c), s, xp))
    t_o = t_o / op.astype(f32)
    t_c = prod(k, k, _acdiv(mn(tr, r + 2 * p), s, xp), _acdiv(mn(tc, c + 2 * p), s, xp))
    lat1 = xp.maximum(xp.maximum(t_i, t_w), t_c)
    acc = _acdiv(n, tn, xp).astype(f32) * lat1
    lat2 = xp.maximum(acc, t_o)
    tiles = prod(b, _acdiv(r, tr, xp), _acdiv(c, tc, xp), _acdiv(m, tm, xp))
    cycles = tiles * lat2
    bottleneck = xp.where(
        t_o > acc,
        OUTPUT_STORE,
        xp.where(
            (t_c >= t_i) & (t_c >= t_w),
            COMPUTE,
            xp.where(t_i >= t_w, INPUT_LOAD, WEIGHT_LOAD),
        ),
    ).astype(xp.int32)
    return cycles, bottleneck


# ----------------------------------------------------------------------------
# float32 forms: the jitted code's one definition (jax.numpy only).
# ----------------------------------------------------------------------------


def _fcdiv(a, b):
    """ceil(a / b) of positive integers held in float32 (exact below 2**24)."""
    return jnp.ceil(a / b)


class LayerTerms(NamedTuple):
    """The latency terms of layers, docs/design.md section 4 (B = 1).

    float32 arrays of the broadcast shape of :func:`layer_terms`' arguments;
    the fields are those of :class:`LayerCost`.

    Attributes:
      t_weight: tW = Tm Tn K^2 / Wp.
      t_input: tI = min(Tn,N) min(Tr,R) min(Tc,C) / Ip.
      t_output: tO = min(Tm,M) ceil(min(Tr,R)/S) ceil(min(Tc,C)/S) / Op.
      t_compute: tC = K^2 ceil(min(Tr,R+2P)/S) ceil(min(Tc,C+2P)/S).
      lat1: max(tI, tW, tC).
      accumulate: ceil(N/Tn) lat1.
      lat2: max(accumulate, tO).
      tiles: ceil(R/Tr) ceil(C/Tc) ceil(M/Tm).
    """

    t_weight: Any
    t_input: Any
    t_output: Any
    t_compute: Any
    lat1: Any
    accumulate: Any
    lat2: Any
    tiles: Any

    @property
    def cycles(self):
        """lat = tiles * lat2, cycles (float32)."""
        return self.tiles * self.lat2

    @property
    def bottleneck(self):
        """Code of the term that sets lat1 / lat2 (ties as in :func:`layer_cost`)."""
        return jnp.where(
            self.t_output > self.accumulate,
            OUTPUT_STORE,
            jnp.where(
                (self.t_compute >= self.t_input) & (self.t_compute >= self.t_weight),
                COMPUTE,
                jnp.where(self.t_input >= self.t_weight, INPUT_LOAD, WEIGHT_LOAD),
            ),
        )


def layer_terms(n, m, r, c, k, s, tm, tn, tr, tc, wp, ip, op) -> LayerTerms:
    """The latency terms of layers on accelerators, elementwise (jitted form).

    Every argument is a float32 ``jax.numpy`` array holding positive integers
    (below 2**24, where float32 ceilings and products of the search space's
    sizes are exact), broadcastable together: layer shape (n, m, r, c, k, s)
    and tiling (tm, tn, tr, tc, wp, ip, op). Same formulas as
    :func:`layer_cost`, in one fixed operation order, so that every caller
    gets the same values bit for bit.
    """
    mn = jnp.minimum
    p2 = 2.0 * jnp.floor((k - 1.0) * 0.5)  # 2P, P = (K-1)//2
    k2 = k * k
    t_w = tm * tn * k2 / wp
    t_i = mn(tn, n) * mn(tr, r) * mn(tc, c) / ip
    t_o = mn(tm, m) * _fcdiv(mn(tr, r), s) * _fcdiv(mn(tc, c), s) / op
    t_c = k2 * _fcdiv(mn(tr, r + p2), s) * _fcdiv(mn(tc, c + p2), s)
    lat1 = jnp.maximum(jnp.maximum(t_i, t_w), t_c)
    acc = _fcdiv(n, tn) * lat1
    return LayerTerms(
        t_weight=t_w,
        t_input=t_i,
        t_output=t_o,
        t_compute=t_c,
        lat1=lat1,
        accumulate=acc,
        lat2=jnp.maximum(acc, t_o),
        tiles=_fcdiv(r, tr) * _fcdiv(c, tc) * _fcdiv(m, tm),
    )
