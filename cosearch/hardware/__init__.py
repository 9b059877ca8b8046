"""FPGA devices, the analytic cost model and the design optimizer
(docs/design.md sections 3, 4).

- ``geometry``: a layer's output size and padding (the one shape rule);
- ``layer_model``, ``resources``: one layer on one loop-tiled accelerator,
  its cycles and the accelerator's DSP, BRAM and ports;
- ``architecture``, ``design``: the network and the multi-FPGA design, as
  host records and padded arrays;
- ``devices``, ``grid``, ``design_space``, ``specs``: the FPGA pool, its
  tiling grids, the optimizer's prepared space, specs and objectives;
- ``cost_model``, ``cost_figures``, ``sharding``: the batched cost model;
- ``partition``, ``solve``, ``optimizer``: the exact design optimizer.

The bottom room: imports ``errors`` only. The names below are its public
API (``from cosearch.hardware import Layer, Tiling, layer_cost``).
"""

from cosearch.hardware.architecture import (
    ArchArrays,
    Architecture,
    ConvSpec,
    arch_arrays,
)
from cosearch.hardware.cost_model import CostResult, evaluate, evaluate_one
from cosearch.hardware.design import (
    Design,
    DesignArrays,
    Stage,
    design_arrays,
    designs_from_arrays,
)
from cosearch.hardware.design_space import DesignSpace, design_space
from cosearch.hardware.devices import (
    DEVICES,
    PLATFORM_PRESETS,
    Device,
    HardwareConfigError,
    Library,
    Platform,
    load_library,
    resolve_platform,
)
from cosearch.hardware.grid import DeviceGrid, default_grid, grid_report, load_grid
from cosearch.hardware.layer_model import (
    BOTTLENECK_NAMES,
    Layer,
    LayerCost,
    Tiling,
    layer_cost,
)
from cosearch.hardware.optimizer import Optimum, optimize
from cosearch.hardware.platform_arrays import PlatformArrays, platform_arrays
from cosearch.hardware.resources import Resources, accelerator_resources
from cosearch.hardware.specs import OBJECTIVES, Objective, Specs

__all__ = [
    "CostResult",
    "evaluate",
    "evaluate_one",
    "DesignSpace",
    "DeviceGrid",
    "OBJECTIVES",
    "Objective",
    "Optimum",
    "Specs",
    "default_grid",
    "design_space",
    "grid_report",
    "load_grid",
    "optimize",
    "ArchArrays",
    "Architecture",
    "BOTTLENECK_NAMES",
    "ConvSpec",
    "DEVICES",
    "Design",
    "DesignArrays",
    "Device",
    "HardwareConfigError",
    "Layer",
    "LayerCost",
    "Library",
    "PLATFORM_PRESETS",
    "Platform",
    "PlatformArrays",
    "Resources",
    "Stage",
    "Tiling",
    "accelerator_resources",
    "arch_arrays",
    "design_arrays",
    "designs_from_arrays",
    "layer_cost",
    "load_library",
    "platform_arrays",
    "resolve_platform",
]
