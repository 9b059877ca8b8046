"""Fixed-point formats of the exported accelerators and a bit-exact emulation.

Each stage's accelerator has its own compile-time ``ap_fixed`` types (its
datapath is fixed in hardware, so all the layers a stage runs share them):

* ``data_t = ap_fixed<16, IA, AP_RND, AP_SAT>`` activations (the stage's
  input, its layers' outputs);
* ``weight_t = ap_fixed<16, IW, AP_RND, AP_SAT>`` conv weights;
* ``acc_t = ap_fixed<48, IA + IW + 16>`` accumulators: the exact product
  format of data_t x weight_t widened by 16 guard bits to the 48-bit word
  the cost model charges for them
  (:data:`cosearch.hardware.resources.ACC_BITS`). The guard bits a stage
  needs, G = bit length of its largest N K^2, plus one, plus what the bias
  needs, must be at most 16 (else the stage is refused), so no sum can
  overflow and no truncation ever happens; the conv bias is stored in
  acc_t;
* ``scale_t = ap_fixed<16, IS, AP_RND, AP_SAT>`` and ``shift_t =
  ap_fixed<32, ISH, AP_RND, AP_SAT>`` the folded BatchNorm.

Rule for the integer bits I (sign included) of a format holding values of
largest magnitude A: the least I >= 1 with A < 2^(I - 1), i.e. ``I = max(1,
floor(log2 A) + 2)``. Weights, bias, scale and shift take A = their exact
max abs over the stage's layers; activations take A = the largest magnitude
calibrated on a few images (the stage's input and each of its layers'
outputs, the float network) times 2, one bit of headroom. Values beyond a
format saturate (AP_SAT); rounding is AP_RND, round half up (to +inf).

A store is ``data_t(relu(acc) * scale + shift)``: ``ap_fixed`` forms the
product and the sum exactly, then rounds and saturates once. :func:`emulate`
does the same arithmetic on integers: the convolution of 16-bit raw values
as a float64 matrix product whose every partial sum is an integer below
2^53 (hence exact; checked), everything after it in int64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from cosearch.hardware.geometry import out_size, padding
from cosearch.hardware.resources import ACC_BITS, word_bits
from cosearch.hls.network import Network

WORD_BITS = 16  # data, weights, scale
PRODUCT_BITS = 2 * WORD_BITS  # data x weight
ACC_WORD_BITS = ACC_BITS[WORD_BITS]  # accumulators, as the cost model charges
SHIFT_BITS = 32
HEADROOM_BITS = 1  # activations, calibrated on a few images
# Largest integer the emulation forms: int64 with a bit to spare, and the
# float64 products (sums of integers exact below 2^53).
MAX_EMULATED_BITS = 62
MAX_FLOAT_EXACT_BITS = 53


def int_bits(max_abs: float, headroom: int = 0) -> int:
    """Integer bits (sign included) of a signed format holding ``max_abs``:
    ``max(1, floor(log2 max_abs) + 2) + headroom``."""
    if not math.isfinite(max_abs):
        raise ValueError(f"cannot choose a format for {max_abs}")
    if max_abs <= 0:
        return 1 + headroom
    return max(1, math.floor(math.log2(max_abs)) + 2) + headroom


class StageFormat(NamedTuple):
    """The fixed-point types of one stage (see the module doc).

    Attributes:
      data_int: IA, integer bits of data_t.
      weight_int: IW, of weight_t.
      guard: G, the accumulator guard bits the stage needs (its sums are
        below 2^(IA + IW + G - 1)); acc_t has ACC_WORD_BITS - 32 of them.
      scale_int: IS, of scale_t.
      shift_int: ISH, of shift_t.
    """

    data_int: int
    weight_int: int
    guard: int
    scale_int: int
    shift_int: int

    @property
    def data_frac(self) -> int:
        return WORD_BITS - self.data_int

    @property
    def weight_frac(self) -> int:
        return WORD_BITS - self.weight_int

    @property
    def acc_bits(self) -> int:
        return ACC_WORD_BITS

    @property
    def acc_int(self) -> int:
        return self.data_int + self.weight_int + ACC_WORD_BITS - PRODUCT_BITS

    @property
    def acc_frac(self) -> int:
        return self.acc_bits - self.acc_int

    @property
    def scale_frac(self) -> int:
        return WORD_BITS - self.scale_int

    @property
    def shift_frac(self) -> int:
        return SHIFT_BITS - self.shift_int

    def typedefs(self) -> dict[str, str]:
        """C++ type of each word of the engine."""
        sat = "AP_RND, AP_SAT"
        acc = f"ap_fixed<{self.acc_bits}, {self.acc_int}>"
        return {
            "data_t": f"ap_fixed<{WORD_BITS}, {self.data_int}, {sat}>",
            "weight_t": f"ap_fixed<{WORD_BITS}, {self.weight_int}, {sat}>",
            "acc_t": acc,
            "bias_t": acc,
            "scale_t": f"ap_fixed<{WORD_BITS}, {self.scale_int}, {sat}>",
            "shift_t": f"ap_fixed<{SHIFT_BITS}, {self.shift_int}, {sat}>",
        }

    def word_bits(self) -> dict[str, int]:
        """Bits of each word of the engine: the cost model's 16-bit words."""
        return word_bits(WORD_BITS)


def _max_abs(arrays) -> float:
    return max(float(np.max(np.abs(a))) if np.size(a) else 0.0 for a in arrays)


def choose_formats(
    network: Network,
    stages: Sequence[Sequence[int]],
    calibration: Sequence[np.ndarray],
) -> tuple[StageFormat, ...]:
    """The format of each stage, by the module doc's rule.

    Args:
      network: the network.
      stages: the layer indices of each stage.
      calibration: the float activations of a few images: the input images
        first, then each layer's output (``len(layers) + 1`` arrays).

    Returns:
      One :class:`StageFormat` per stage.
    """
    formats = []
    for idx in stages:
        layers = [network.layers[i] for i in idx]
        acts = [calibration[idx[0]], *(calibration[i + 1] for i in idx)]
        fmt = StageFormat(
            data_int=int_bits(_max_abs(acts), HEADROOM_BITS),
            weight_int=int_bits(_max_abs(lay.kernel for lay in layers)),
            guard=0,
            scale_int=int_bits(_max_abs(lay.scale for lay in layers)),
            shift_int=int_bits(_max_abs(lay.shift for lay in layers)),
        )
        fan_in = max(int(np.prod(lay.kernel.shape[1:])) for lay in layers)
        guard = fan_in.bit_length() + 1
        bias_int = int_bits(_max_abs(lay.bias for lay in layers))
        guard = max(guard, bias_int + 1 - fmt.data_int - fmt.weight_int)
        fmt = fmt._replace(guard=guard)
        if guard > ACC_WORD_BITS - PRODUCT_BITS:
            raise ValueError(
                f"stage layers {list(idx)}: sums need {PRODUCT_BITS + guard}-bit "
                f"accumulators (fan-in {fan_in}), over the {ACC_WORD_BITS} bits "
                "the accelerator has"
            )
        sums = PRODUCT_BITS + guard  # bits of the largest sum (sign included)
        align = fmt.acc_frac + fmt.scale_frac - fmt.shift_frac
        widest = 1 + max(sums + WORD_BITS + max(-align, 0), SHIFT_BITS + max(align, 0))
        if sums > MAX_FLOAT_EXACT_BITS or widest > MAX_EMULATED_BITS:
            raise ValueError(f"stage layers {list(idx)}: formats {fmt} too wide")
        formats.append(fmt)
    return tuple(formats)


def quantize(x: np.ndarray, frac: int, bits: int) -> np.ndarray:
    """Raw integers of ``x`` in a signed ``bits``-bit format with ``frac``
    fraction bits: round half up, saturate (AP_RND, AP_SAT). int64."""
    scaled = np.floor(np.asarray(x, np.float64) * 2.0**frac + 0.5)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return np.clip(scaled, lo, hi).astype(np.int64)


def _round_shift(q: np.ndarray, drop: int) -> np.ndarray:
    """``q / 2^drop`` rounded half up (``drop`` >= 0), int64."""
    if drop == 0:
        return q
    return (q + (np.int64(1) << (drop - 1))) >> drop


class QuantLayer(NamedTuple):
    """Raw integers of one layer's parameters in its stage's formats.

    Attributes:
      kernel: ``[M, N, K, K]`` weight_t raws.
      bias: ``[M]`` acc_t raws.
      scale: ``[M]`` scale_t raws.
      shift: ``[M]`` shift_t raws.
    """

    kernel: np.ndarray
    bias: np.ndarray
    scale: np.ndarray
    shift: np.ndarray


def quantize_layer(network: Network, layer: int, fmt: StageFormat) -> QuantLayer:
    """The raw parameters of ``layer`` in ``fmt`` (what the fixed build loads)."""
    lay = network.layers[layer]
    return QuantLayer(
        kernel=quantize(lay.kernel, fmt.weight_frac, WORD_BITS),
        bias=quantize(lay.bias, fmt.acc_frac, fmt.acc_bits),
        scale=quantize(lay.scale, fmt.scale_frac, WORD_BITS),
        shift=quantize(lay.shift, fmt.shift_frac, SHIFT_BITS),
    )


def _conv_raw(x: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    """Exact integer conv of ``[B, H, W, N]`` raws with ``[M, N, K, K]`` raws
    (float64 products of integers, exact below 2^53) -> ``[B, OH, OW, M]``
    int64."""
    b, h, w, n = x.shape
    m, _, k, _ = kernel.shape
    (ph0, ph1), (pw0, pw1) = padding(h, k, stride), padding(w, k, stride)
    oh, ow = out_size(h, stride), out_size(w, stride)
    xp = np.pad(x.astype(np.float64), ((0, 0), (ph0, ph1), (pw0, pw1), (0, 0)))
    cols = [
        xp[:, kr : kr + (oh - 1) * stride + 1 : stride,
           kc : kc + (ow - 1) * stride + 1 : stride, :]
        for kr in range(k)
        for kc in range(k)
    ]  # fmt: skip
    patches = np.concatenate(cols, axis=-1).reshape(-1, k * k * n)
    weights = kernel.transpose(2, 3, 1, 0).reshape(k * k * n, m).astype(np.float64)
    out = patches @ weights
    if np.max(np.abs(out), initial=0.0) >= 2.0**MAX_FLOAT_EXACT_BITS:
        raise AssertionError("conv sums beyond float64's exact integers")
    return out.astype(np.int64).reshape(b, oh, ow, m)


def _layer_raw(x: np.ndarray, q: QuantLayer, fmt: StageFormat, stride: int):
    """One layer on data_t raws ``[B, H, W, N]`` -> data_t raws (int64)."""
    acc = _conv_raw(x, q.kernel, stride) + q.bias
    relu = np.maximum(acc, 0)
    prod_frac = fmt.acc_frac + fmt.scale_frac
    frac = max(prod_frac, fmt.shift_frac)
    total = (relu * q.scale << (frac - prod_frac)) + (
        q.shift << (frac - fmt.shift_frac)
    )
    out = _round_shift(total, frac - fmt.data_frac)
    return np.clip(out, -(2 ** (WORD_BITS - 1)), 2 ** (WORD_BITS - 1) - 1)


def emulate(
    network: Network,
    stages: Sequence[Sequence[int]],
    formats: Sequence[StageFormat],
    images: np.ndarray,
    batch: int = 64,
) -> np.ndarray:
    """The fixed-point accelerators' last feature map, bit for bit.

    Images are quantized into stage 0's data_t, each stage's input into its
    own data_t (from the previous stage's values; both round half up and
    saturate), and each layer computed as the engine does.

    Args:
      network: the network.
      stages: layer indices of each stage.
      formats: each stage's formats.
      images: ``[B, H, W, C]`` float32.
      batch: images per step.

    Returns:
      ``[B, H', W', M]`` float64 values of the last layer's data_t outputs
      (exact: raw / 2^frac).
    """
    quant = {
        i: quantize_layer(network, i, fmt)
        for idx, fmt in zip(stages, formats, strict=True)
        for i in idx
    }
    outs = []
    for start in range(0, len(images), batch):
        values = np.asarray(images[start : start + batch], np.float64)
        for idx, fmt in zip(stages, formats, strict=True):
            raw = quantize(values, fmt.data_frac, WORD_BITS)
            for i in idx:
                raw = _layer_raw(raw, quant[i], fmt, network.layers[i].stride)
            values = raw.astype(np.float64) * 2.0**-fmt.data_frac
        outs.append(values)
    return np.concatenate(outs)
