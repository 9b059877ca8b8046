"""FPGA devices, the analytic cost model and the design optimizer."""

from cosearch.hardware.cost_model import CostResult, evaluate, evaluate_one
from cosearch.hardware.design import (
    ArchArrays,
    Architecture,
    ConvSpec,
    Design,
    DesignArrays,
    Stage,
    arch_arrays,
    design_arrays,
    designs_from_arrays,
)
from cosearch.hardware.devices import (
    DEVICES,
    PLATFORM_PRESETS,
    Device,
    HardwareConfigError,
    Library,
    Platform,
    PlatformArrays,
    load_library,
    platform_arrays,
    resolve_platform,
)
from cosearch.hardware.grid import DeviceGrid, default_grid, grid_report, load_grid
from cosearch.hardware.layer_model import (
    BOTTLENECK_NAMES,
    Layer,
    LayerCost,
    Resources,
    Tiling,
    accelerator_resources,
    layer_cost,
)
from cosearch.hardware.optimizer import Optimum, optimize
from cosearch.hardware.reference import ReferenceResult, evaluate_reference
from cosearch.hardware.search_space import DesignSpace, design_space
from cosearch.hardware.specs import OBJECTIVES, Objective, Specs

__all__ = [
    "CostResult",
    "ReferenceResult",
    "evaluate",
    "evaluate_one",
    "evaluate_reference",
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
