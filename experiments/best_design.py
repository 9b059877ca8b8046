r"""The provably best multi-FPGA design of one architecture.

    python -m experiments.best_design --layers='3,36,1;5,36,1;1,64,1' \
        --platform=mixed4 [--grid=grid.json] [--objective=throughput] \
        [--min_fps=1000] [--max_latency_ms=2] [--min_gops_per_w=50] [--json]

Prints one row per pipeline stage (layers, device, tiling, DSP/BRAM use,
cycles, bottleneck), the figures and whether the specs are met; ``--json``
prints the same as one JSON object.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from absl import flags

from cosearch.hardware import cost_model
from cosearch.hardware.architecture import Architecture, arch_arrays
from cosearch.hardware.design import designs_from_arrays
from cosearch.hardware.design_space import design_space
from cosearch.hardware.devices import resolve_platform
from cosearch.hardware.grid import load_grid
from cosearch.hardware.layer_model import BOTTLENECK_NAMES
from cosearch.hardware.optimizer import optimize
from cosearch.hardware.platform_arrays import platform_arrays
from cosearch.hardware.specs import OBJECTIVES, Specs, prune_reason_name
from experiments.common import UsageError, parse_input_shape, run

FLAGS = flags.FLAGS
flags.DEFINE_string("layers", None, "Layers 'kernel,filters,stride;...'.")
flags.DEFINE_string("input", "32,32,3", "Input height,width,channels.")
flags.DEFINE_string("platform", "zcu102x2", "Platform preset or JSON file.")
flags.DEFINE_string("grid", None, "JSON grid: {tm: [...], ...} or per device.")
flags.DEFINE_enum("objective", "throughput", list(OBJECTIVES), "What to optimise.")
flags.DEFINE_float("min_fps", None, "Spec: minimum throughput, images/s.")
flags.DEFINE_float("max_latency_ms", None, "Spec: maximum latency, ms.")
flags.DEFINE_float("min_gops_per_w", None, "Spec: minimum efficiency, GOPS/W.")
flags.DEFINE_enum("bits", "16", ["16", "32"], "Word width (16 fixed / 32 float).")
flags.DEFINE_bool("enforce_bram", True, "Count BRAM18K for feasibility.")
flags.DEFINE_bool("json", False, "Print JSON instead of tables.")

TILING_KEYS = ("tm", "tn", "tr", "tc", "tk", "wp", "ip", "op")


def best_design(
    layers: str,
    input_shape: Sequence[int],
    platform: str,
    grid: str | None = None,
    objective: str = "throughput",
    specs: Specs | None = None,
    bits: int = 16,
    enforce_bram: bool = True,
) -> dict:
    """The best design of ``layers`` as a JSON-ready dict (see module doc)."""
    arch = Architecture.parse(layers)
    plat = resolve_platform(platform)
    space = design_space(
        plat,
        None if grid is None else load_grid(grid),
        bits=bits,
        enforce_bram=enforce_bram,
    )
    specs = specs or Specs()
    arrays = arch_arrays([arch], input_shape)
    opt = optimize(arrays, space, objective, specs)
    fig = cost_model.evaluate(
        arrays,
        opt.design,
        platform_arrays(plat),
        bits=bits,
        enforce_bram=enforce_bram,
    )
    fig = {k: np.asarray(v)[0] for k, v in vars(fig).items()}
    design = designs_from_arrays(opt.design)[0]
    stages = []
    slowest = int(np.argmax(fig["stage_seconds"])) if design.stages else -1
    for i, st in enumerate(design.stages):
        layer_cyc = fig["layer_cycles"][st.first : st.last + 1]
        worst = st.first + int(np.argmax(layer_cyc))
        stages.append(
            {
                "layers": [st.first, st.last],
                "slot": st.device,
                "device": plat.devices[st.device].name,
                "tiling": dict(zip(TILING_KEYS, st.tiling.as_tuple(), strict=True)),
                "cycles": float(fig["stage_cycles"][i]),
                "seconds": float(fig["stage_seconds"][i]),
                "dsp": int(fig["stage_dsp"][i]),
                "dsp_budget": plat.devices[st.device].dsp,
                "bram18": int(fig["stage_bram18"][i]),
                "bram18_budget": plat.devices[st.device].bram18,
                "lutram": int(fig["stage_lutram"][i]),
                "lutram_budget": plat.devices[st.device].lutram,
                "ffs": int(fig["stage_ffs"][i]),
                "ffs_budget": plat.devices[st.device].ffs,
                "port_bits": int(fig["stage_port_bits"][i]),
                "bottleneck": BOTTLENECK_NAMES[int(fig["layer_bottleneck"][worst])],
                "bottleneck_layer": worst,
                "pipeline_bottleneck": i == slowest,
            }
        )
    found = bool(opt.feasible[0])
    scalar = lambda x: float(np.asarray(x)[0])
    return {
        "architecture": str(arch),
        "input": list(input_shape),
        "platform": plat.name,
        "pool": list(plat.device_names),
        "objective": objective,
        "specs": {
            "min_fps": specs.min_fps,
            "max_latency_ms": specs.max_latency_ms,
            "min_gops_per_w": specs.min_gops_per_w,
        },
        "feasible": found and bool(fig["feasible"]),
        "throughput_fps": float(fig["throughput"]) if found else 0.0,
        "latency_ms": float(fig["latency"]) * 1e3 if found else None,
        "gops_per_w": float(fig["gops_per_w"]) if found else 0.0,
        "power_w": float(fig["power_w"]) if found else 0.0,
        "pipeline_eff": float(fig["pipeline_eff"]) if found else 0.0,
        "meets_specs": bool(opt.meets_specs[0]),
        "prune_reason": prune_reason_name(int(opt.prune_reason[0])),
        "best_fps": scalar(opt.best_fps),
        "best_latency_ms": scalar(opt.best_latency) * 1e3 if found else None,
        "best_gops_per_w": (
            None
            if np.isnan(scalar(opt.best_gops_per_w))
            else scalar(opt.best_gops_per_w)
        ),
        "energy_bound": scalar(opt.energy_bound),
        "grid": list(space.report),
        "designs_declared": space.designs_covered(arch.depth),
        "designs_scanned": space.designs_covered(arch.depth, kept=True),
        "stages": stages,
    }


def format_tables(res: dict) -> str:
    """Human-readable tables of :func:`best_design`'s result."""
    out = [
        f"architecture {res['architecture']}  input {res['input']}  "
        f"platform {res['platform']} ({', '.join(res['pool'])})  "
        f"objective {res['objective']}",
        "",
        f"{'stage':>5} {'layers':>7} {'slot':>4} {'device':<10} "
        f"{'Tm Tn Tr Tc Tk Wp Ip Op':<26} {'DSP':>11} {'BRAM18':>11} "
        f"{'cycles':>11} {'ms':>8}  bottleneck",
    ]
    for i, st in enumerate(res["stages"]):
        t = st["tiling"]
        tiling = " ".join(str(t[k]) for k in TILING_KEYS)
        mark = " *" if st["pipeline_bottleneck"] else ""
        out.append(
            f"{i:>5} {st['layers'][0]:>3}-{st['layers'][1]:<3} {st['slot']:>4} "
            f"{st['device']:<10} {tiling:<26} "
            f"{st['dsp']:>5}/{st['dsp_budget']:<5} "
            f"{st['bram18']:>5}/{st['bram18_budget']:<5} {st['cycles']:>11.0f} "
            f"{st['seconds'] * 1e3:>8.4f}  {st['bottleneck']} (layer "
            f"{st['bottleneck_layer']}){mark}"
        )
    if not res["stages"]:
        out.append("  (no feasible design on this platform and grid)")
    lat, best_lat = res["latency_ms"], res["best_latency_ms"]
    best_lat = "-" if best_lat is None else f"{best_lat:.4f}"
    out += [
        "",
        f"throughput {res['throughput_fps']:.2f} images/s   latency "
        + (f"{lat:.4f} ms" if lat is not None else "-")
        + f"   energy efficiency {res['gops_per_w']:.3f} GOPS/W   power "
        f"{res['power_w']:.3f} W   pipeline efficiency {res['pipeline_eff']:.3f}",
        f"designs declared {res['designs_declared']:.3e}, scanned after exact "
        f"pruning {res['designs_scanned']:.3e}   (* = pipeline bottleneck stage)",
        "specs: "
        + (
            "met"
            if res["meets_specs"]
            else f"NOT met ({res['prune_reason']}; best reachable: "
            f"{res['best_fps']:.2f} images/s, "
            f"{best_lat} ms"
            + (
                f", {res['best_gops_per_w']:.3f} GOPS/W"
                if res["best_gops_per_w"] is not None
                else ""
            )
            + ")"
        ),
    ]
    return "\n".join(out)


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.layers:
        raise UsageError("--layers is required, e.g. --layers='3,36,1;5,36,1'")
    specs = Specs(
        min_fps=FLAGS.min_fps,
        max_latency_ms=FLAGS.max_latency_ms,
        min_gops_per_w=FLAGS.min_gops_per_w,
    )
    res = best_design(
        FLAGS.layers,
        parse_input_shape(FLAGS.input, "--input"),
        FLAGS.platform,
        FLAGS.grid,
        FLAGS.objective,
        specs,
        bits=int(FLAGS.bits),
        enforce_bram=FLAGS.enforce_bram,
    )
    print(json.dumps(res, sort_keys=True) if FLAGS.json else format_tables(res))


if __name__ == "__main__":
    run(main)
