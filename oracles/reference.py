"""Scalar reference of the cost model: one pair at a time, plain Python loops.

The formulas of docs/design.md section 4 evaluated the way the original authors'
code did, one (architecture, design) pair at a time, layer by layer, with
:func:`cosearch.hardware.layer_model.layer_cost` and
:func:`cosearch.hardware.layer_model.accelerator_resources` on Python
numbers. It is slow on purpose (it is the yardstick): the tests check the
batched :func:`cosearch.hardware.cost_model.evaluate` against it, and the
benchmark measures both on the same pairs. Semantics are those of the
:mod:`cosearch.hardware.cost_model` docstring.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from cosearch.hardware.architecture import Architecture
from cosearch.hardware.design import Design
from cosearch.hardware.devices import Platform
from cosearch.hardware.layer_model import Layer, LayerCost, layer_cost
from cosearch.hardware.resources import accelerator_resources


@dataclasses.dataclass(frozen=True)
class ReferenceResult:
    """Figures of one pair, as Python numbers (same names as ``CostResult``).

    Per-stage lists have one entry per real stage (m), per-layer lists one
    per layer; an invalid design has empty lists and zero figures.

    Attributes:
      throughput: images/s.
      latency: seconds per image.
      gops_per_w: GOPS/W.
      pipeline_eff: sum / (m * max) of stage seconds.
      power_w: W over the used FPGAs.
      macs: multiply-accumulates per image.
      feasible: valid and every stage within budget, Tk covering its kernels.
      valid: the design's structure is usable (see ``Design.validate``).
      reason: why the design is invalid or infeasible ("" when feasible).
      stage_seconds: compute + link seconds per stage.
      stage_cycles: stage seconds in cycles of the stage's clock.
      stage_link_seconds: link part of stage seconds.
      stage_dsp: DSP slices per stage.
      stage_bram18: BRAM18K blocks per stage.
      stage_port_bits: port bits per cycle per stage.
      stage_feasible: per stage.
      layer_cycles: lat of each layer, cycles.
      layer_bottleneck: bottleneck code of each layer.
      layer_stage: stage index of each layer.
      layer_costs: the full :class:`LayerCost` of each layer.
    """

    throughput: float
    latency: float
    gops_per_w: float
    pipeline_eff: float
    power_w: float
    macs: float
    feasible: bool
    valid: bool
    reason: str = ""
    stage_seconds: list[float] = dataclasses.field(default_factory=list)
    stage_cycles: list[float] = dataclasses.field(default_factory=list)
    stage_link_seconds: list[float] = dataclasses.field(default_factory=list)
    stage_dsp: list[int] = dataclasses.field(default_factory=list)
    stage_bram18: list[int] = dataclasses.field(default_factory=list)
    stage_port_bits: list[int] = dataclasses.field(default_factory=list)
    stage_feasible: list[bool] = dataclasses.field(default_factory=list)
    layer_cycles: list[float] = dataclasses.field(default_factory=list)
    layer_bottleneck: list[int] = dataclasses.field(default_factory=list)
    layer_stage: list[int] = dataclasses.field(default_factory=list)
    layer_costs: list[LayerCost] = dataclasses.field(default_factory=list)


def evaluate_reference(
    arch: Architecture,
    design: Design,
    platform: Platform,
    input_shape: Sequence[int],
    *,
    bits: int = 16,
    enforce_bram: bool = True,
) -> ReferenceResult:
    """Figures of one (architecture, design) pair, docs/design.md section 4.

    Args:
      arch: the network.
      design: its multi-FPGA design (stages index ``platform.devices``).
      platform: the FPGA pool.
      input_shape: (height, width, channels) of the input image.
      bits: 16 (fixed point) or 32 (float).
      enforce_bram: whether BRAM18K over budget makes a stage infeasible.

    Returns:
      A :class:`ReferenceResult`; an invalid design gives ``valid=False``
      and zero figures rather than an exception.
    """
    layers: list[Layer] = arch.conv_layers(input_shape)
    macs = float(sum(layer.macs for layer in layers))
    try:
        design.validate(len(layers), platform.size)
    except ValueError as e:
        return ReferenceResult(0.0, 0.0, 0.0, 0.0, 0.0, macs, False, False, str(e))

    stage_seconds, stage_cycles, stage_link = [], [], []
    stage_dsp, stage_bram, stage_ports, stage_feasible = [], [], [], []
    layer_costs, layer_stage, reasons = [], [], []
    power = 0.0
    last_stage = design.num_stages - 1
    for j, stage in enumerate(design.stages):
        device = platform.devices[stage.device]
        cycles = 0.0
        for i in range(stage.first, stage.last + 1):
            cost = layer_cost(layers[i], stage.tiling, bits)
            layer_costs.append(cost)
            layer_stage.append(j)
            cycles += cost.cycles
        link = 0.0
        if j < last_stage:
            out = layers[stage.last]
            link = bits * out.m * out.out_rows * out.out_cols / device.link_bps
        seconds = cycles / device.clock_hz + link
        res = accelerator_resources(stage.tiling, bits)
        max_kernel = max(layers[i].k for i in range(stage.first, stage.last + 1))
        problems = []
        if res.dsp > device.dsp:
            problems.append(f"DSP {res.dsp} > {device.dsp}")
        if enforce_bram:
            for what, used, have in (
                ("BRAM18K", res.bram18, device.bram18),
                ("LUTRAM LUTs", res.lutram, device.lutram),
                ("flip-flops", res.ffs, device.ffs),
            ):
                if used > have:
                    problems.append(f"{what} {used} > {have}")
        if res.port_bits > device.port_bits:
            problems.append(f"port bits {res.port_bits} > {device.port_bits}")
        if stage.tiling.tk < max_kernel:
            problems.append(f"Tk {stage.tiling.tk} < kernel {max_kernel}")
        if problems:
            reasons.append(f"stage {j} on {device.name}: " + ", ".join(problems))
        power += device.static_w + device.dsp_w * res.dsp + device.bram_w * res.bram18
        stage_seconds.append(seconds)
        stage_cycles.append(seconds * device.clock_hz)
        stage_link.append(link)
        stage_dsp.append(res.dsp)
        stage_bram.append(res.bram18)
        stage_ports.append(res.port_bits)
        stage_feasible.append(not problems)

    slowest, total = max(stage_seconds), sum(stage_seconds)
    throughput = 1.0 / slowest
    return ReferenceResult(
        throughput=throughput,
        latency=total,
        gops_per_w=2.0 * macs * throughput / power / 1e9,
        pipeline_eff=total / (design.num_stages * slowest),
        power_w=power,
        macs=macs,
        feasible=all(stage_feasible),
        valid=True,
        reason="; ".join(reasons),
        stage_seconds=stage_seconds,
        stage_cycles=stage_cycles,
        stage_link_seconds=stage_link,
        stage_dsp=stage_dsp,
        stage_bram18=stage_bram,
        stage_port_bits=stage_ports,
        stage_feasible=stage_feasible,
        layer_cycles=[cost.cycles for cost in layer_costs],
        layer_bottleneck=[cost.bottleneck for cost in layer_costs],
        layer_stage=layer_stage,
        layer_costs=layer_costs,
    )
