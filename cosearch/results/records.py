"""History records: one JSON-ready dict per evaluated (architecture, design) pair.

Turns batched cost-model output (arrays ``[B, ...]``) into the per-pair
records of history.jsonl (docs/design.md section 8), and back into host
:class:`Design` records for re-scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from cosearch.hardware.architecture import Architecture
from cosearch.hardware.design import Design, Stage
from cosearch.hardware.devices import Platform
from cosearch.hardware.layer_model import BOTTLENECK_NAMES, TILING_FIELDS, Tiling

# Keys of a record that depend on the machine's speed, not on the search.
TIMING_KEY = "timing"

# The record key of each cost-model figure that specs and objectives bound
# (the record holds latency in ms, the figures in seconds).
FIGURE_KEYS = {
    "throughput": "throughput_fps",
    "latency": "latency_ms",
    "gops_per_w": "gops_per_w",
}


def host(tree: Any) -> Any:
    """A pytree of device arrays as numpy arrays (one transfer)."""
    return jax.tree.map(np.asarray, jax.device_get(tree))


def design_record(
    design: Design, figures: Any, index: int, platform: Platform
) -> dict[str, Any]:
    """The per-FPGA configuration of one design, with its per-stage figures.

    Args:
      design: the host design.
      figures: a host (numpy) ``CostResult`` with a leading batch axis.
      index: the row of ``figures`` that belongs to ``design``.
      platform: the pool (device names).
    """
    stages = []
    for s, st in enumerate(design.stages):
        layers = range(st.first, st.last + 1)
        stages.append(
            {
                "layers": [st.first, st.last],
                "slot": st.device,
                "device": platform.devices[st.device].name,
                "tiling": dict(zip(TILING_FIELDS, st.tiling.as_tuple(), strict=True)),
                "dsp": int(figures.stage_dsp[index, s]),
                "bram18": int(figures.stage_bram18[index, s]),
                "lutram": int(figures.stage_lutram[index, s]),
                "ffs": int(figures.stage_ffs[index, s]),
                "port_bits": int(figures.stage_port_bits[index, s]),
                "cycles": float(figures.stage_cycles[index, s]),
                "seconds": float(figures.stage_seconds[index, s]),
                "feasible": bool(figures.stage_feasible[index, s]),
                "bottlenecks": [
                    BOTTLENECK_NAMES[int(figures.layer_bottleneck[index, i])]
                    for i in layers
                ],
            }
        )
    return {"stages": stages}


def figure_fields(figures: Any, index: int) -> dict[str, Any]:
    """Scalar hardware figures of row ``index`` of a host ``CostResult``."""
    return {
        FIGURE_KEYS["throughput"]: float(figures.throughput[index]),
        FIGURE_KEYS["latency"]: 1e3 * float(figures.latency[index]),
        FIGURE_KEYS["gops_per_w"]: float(figures.gops_per_w[index]),
        "pipeline_eff": float(figures.pipeline_eff[index]),
        "power_w": float(figures.power_w[index]),
        "feasible": bool(figures.feasible[index]),
    }


def design_from_record(record: dict[str, Any]) -> Design:
    """The host :class:`Design` of a record's ``design`` entry."""
    return Design(
        tuple(
            Stage(
                int(st["layers"][0]),
                int(st["layers"][1]),
                int(st["slot"]),
                Tiling(**{k: int(st["tiling"][k]) for k in TILING_FIELDS}),
            )
            for st in record["design"]["stages"]
        )
    )


def architecture_from_record(record: dict[str, Any]) -> Architecture:
    """The host :class:`Architecture` of a record."""
    return Architecture(tuple(tuple(layer) for layer in record["layers"]))


def without_timing(record: dict[str, Any]) -> dict[str, Any]:
    """The record less its machine-dependent timings (for exact comparisons)."""
    return {k: v for k, v in record.items() if k != TIMING_KEY}


def scored_pairs(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pairs with an accuracy that met the specs (trained or cached)."""
    return [
        h
        for h in history
        if h.get("status") in ("trained", "cached")
        and h.get("accuracy") is not None
        and h.get("meets_specs", True)
    ]
