"""Check an exported project against the network, the emulation and the cost model.

* float build vs the JAX network: max |logits difference| / max |JAX logits|;
* fixed build vs :func:`cosearch.hls.fixed.emulate`: the last feature map
  bit for bit;
* top-1 agreement of the fixed build with the float (JAX) network;
* test accuracy of the quantized network (the emulation, on a whole split)
  against the float network's;
* the instrumented build's loop counts against the cost model's: weight
  loads, input loads and computes B ceil(R/Tr) ceil(C/Tc) ceil(M/Tm)
  ceil(N/Tn), stores ``layer_cost(...).tiles``.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from cosearch.hardware.layer_model import layer_cost
from cosearch.hls import csim
from cosearch.hls.export import ExportResult
from cosearch.hls.fixed import emulate
from cosearch.hls.network import head_logits, reference


def expected_counts(result: ExportResult) -> tuple[csim.LoopCount, ...]:
    """The cost model's tile iterations of each layer on its stage (B = 1)."""
    design = result.design
    layers = design.architecture.conv_layers(result.network.input_shape)
    out = []
    for i, layer in enumerate(layers):
        tiling = design.stages[design.stage_of(i)].tiling
        tiles = layer_cost(layer, tiling).tiles
        loads = tiles * -(-layer.n // tiling.tn)
        out.append(csim.LoopCount(loads, loads, loads, tiles))
    return tuple(out)


class CsimReport(NamedTuple):
    """Figures of one check (see the module doc).

    Attributes:
      images: images C-simulated (both builds).
      float_rel_error: float build vs JAX, on logits.
      fixed_bit_exact: fixed build == emulation on every value.
      fixed_mismatches: values that differ.
      top1_agreement: fixed build vs the JAX network, fraction of images.
      loop_counts: per layer (counted, expected).
      counts_equal: every layer's counts equal the cost model's.
      float_accuracy: JAX network on the scored split (None without labels).
      quant_accuracy: the emulated fixed-point network on it.
      scored_images: images of that split.
      seconds: wall seconds by step.
    """

    images: int
    float_rel_error: float
    fixed_bit_exact: bool
    fixed_mismatches: int
    top1_agreement: float
    loop_counts: tuple[tuple[csim.LoopCount, csim.LoopCount], ...]
    counts_equal: bool
    float_accuracy: float | None
    quant_accuracy: float | None
    scored_images: int
    seconds: dict[str, float]

    def as_json(self) -> dict:
        d = self._asdict()
        d["loop_counts"] = [
            {"layer": i, "counted": c._asdict(), "expected": e._asdict()}
            for i, (c, e) in enumerate(self.loop_counts)
        ]
        return d


def _stages(result: ExportResult) -> list[list[int]]:
    return [list(st.layer_indices) for st in result.design.stages]


def accuracy(
    result: ExportResult, images: np.ndarray, labels: np.ndarray
) -> tuple[float, float]:
    """(float network, emulated fixed-point network) accuracy on a split."""
    logits, _ = reference(result.network, images)
    feats = emulate(result.network, _stages(result), result.formats, images)
    quant = head_logits(result.network, feats)
    labels = np.asarray(labels)
    return (
        float(np.mean(np.argmax(logits, -1) == labels)),
        float(np.mean(np.argmax(quant, -1) == labels)),
    )


def verify(
    result: ExportResult,
    images: np.ndarray,
    scored: tuple[np.ndarray, np.ndarray] | None = None,
) -> CsimReport:
    """Run both builds on ``images`` and compare (see the module doc).

    Args:
      result: the export.
      images: ``[B, H, W, C]`` float32 images to C-simulate.
      scored: (images, labels) of a split to score the float and emulated
        networks on, or None.
    """
    seconds = {}
    t0 = time.perf_counter()
    ref_logits, _ = reference(result.network, images)
    flt = csim.run(result.out, images, "float", count_loops=True)
    seconds["float_csim_build"], seconds["float_csim_run"] = flt.build_s, flt.run_s
    rel = float(np.max(np.abs(flt.logits - ref_logits)) / np.max(np.abs(ref_logits)))
    fix = csim.run(result.out, images, "fixed")
    seconds["fixed_csim_build"], seconds["fixed_csim_run"] = fix.build_s, fix.run_s
    t1 = time.perf_counter()
    emu = emulate(result.network, _stages(result), result.formats, images)
    seconds["emulation"] = time.perf_counter() - t1
    mismatches = int(np.sum(fix.features.astype(np.float64) != emu))
    agree = float(np.mean(np.argmax(fix.logits, -1) == np.argmax(ref_logits, -1)))
    expected = expected_counts(result)
    pairs = tuple(zip(flt.loop_counts, expected, strict=True))
    seconds["csim_total"] = time.perf_counter() - t0
    float_acc = quant_acc = None
    n_scored = 0
    if scored is not None:
        t1 = time.perf_counter()
        float_acc, quant_acc = accuracy(result, *scored)
        n_scored = len(scored[1])
        seconds["accuracy"] = time.perf_counter() - t1
    return CsimReport(
        images=len(images),
        float_rel_error=rel,
        fixed_bit_exact=mismatches == 0,
        fixed_mismatches=mismatches,
        top1_agreement=agree,
        loop_counts=pairs,
        counts_equal=all(c == e for c, e in pairs),
        float_accuracy=float_acc,
        quant_accuracy=quant_acc,
        scored_images=n_scored,
        seconds=seconds,
    )
