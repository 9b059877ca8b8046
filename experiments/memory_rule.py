r"""What the cost model's memory rule does to the design space, measured.

    python -m experiments.memory_rule \
      --reference=experiments/results/reference_default.json \
      --out=experiments/results/memory_rule.json

Prints and writes, for the memory rule of the checkout it runs in:

* per device of the built-in table: tilings of its default grid kept by the
  grid's pruning, and rows of the design space that fit at Tk = 1, 3, 5, 7
  (DSP, ports and on-chip memory);
* per architecture of a reference set (drawn on ``--platform`` for
  ``--min_fps``): whether its optimum design (OptHW, throughput) meets the
  spec, with its images/s and its stages' memory.

It reads only interfaces that the earlier rule's checkout has too, so the
same file run from that checkout gives the "before" figures (BUILD_NOTES,
"Memory rule").
"""

from __future__ import annotations

import json
import time

import jax
import numpy as np
from absl import app, flags

from cosearch.hardware.architecture import Architecture, arch_arrays
from cosearch.hardware.design import designs_from_arrays
from cosearch.hardware.design_space import design_space, row_tables
from cosearch.hardware.devices import DEVICES, Platform, resolve_platform
from cosearch.hardware.grid import default_grid, feasible_tilings
from cosearch.hardware.optimizer import optimize
from cosearch.hardware.resources import accelerator_resources
from cosearch.hardware.specs import Specs

FLAGS = flags.FLAGS
flags.DEFINE_string("reference", None, "Reference set JSON (its architectures).")
flags.DEFINE_string("platform", "mixed4", "Platform the set was drawn on.")
flags.DEFINE_float("min_fps", 1000.0, "The spec the set was drawn for, images/s.")
flags.DEFINE_string("input", "28,28,1", "Input H,W,C of the architectures.")
flags.DEFINE_string("out", None, "Write the JSON result here.")

KERNELS = (1, 3, 5, 7)


def device_rows() -> list[dict]:
    """Per built-in device: grid tilings kept and design-space rows that fit
    at each Tk of the default space."""
    out = []
    for name, dev in DEVICES.items():
        grid = default_grid(dev)
        kept = feasible_tilings(dev, grid)
        space = design_space(Platform(name, (dev,)), grid)
        fits = np.asarray(row_tables(space)["fits"])  # [K, T, G]
        out.append(
            {
                "device": name,
                "grid_tilings": int(
                    len(grid.tm) * len(grid.tn) * len(grid.tr) * len(grid.tc)
                ),
                "kept_tile_port_rows": int(len(kept)),
                "rows_fitting_at_tk": {str(k): int(fits[k - 1].sum()) for k in KERNELS},
            }
        )
    return out


def reference_rows(path: str, platform: str, min_fps: float, hwc) -> list[dict]:
    """OptHW (throughput) of each architecture of a reference set."""
    with open(path) as f:
        archs = [Architecture.parse(a["architecture"]) for a in json.load(f)[
            "architectures"]]  # fmt: skip
    plat = resolve_platform(platform)
    space = design_space(plat)
    opt = jax.device_get(
        optimize(arch_arrays(archs, hwc), space, "throughput", Specs(min_fps=min_fps))
    )
    designs = designs_from_arrays(opt.design)
    rows = []
    for i, (arch, des) in enumerate(zip(archs, designs, strict=True)):
        stages = []
        for st in des.stages:
            res = accelerator_resources(st.tiling)
            dev = plat.devices[st.device]
            stages.append(
                {
                    "device": dev.name,
                    "tiling": list(st.tiling.as_tuple()),
                    "dsp": res.dsp,
                    "bram18": res.bram18,
                    "lutram": getattr(res, "lutram", None),
                    "ffs": getattr(res, "ffs", None),
                }
            )
        rows.append(
            {
                "architecture": str(arch),
                "meets_spec": bool(opt.feasible[i]) and not bool(opt.pruned[i]),
                "throughput": float(opt.throughput[i]),
                "stages": stages,
            }
        )
    return rows


def main(argv):
    del argv
    start = time.perf_counter()
    result = {"devices": device_rows()}
    for row in result["devices"]:
        print(
            f"{row['device']:>10}: grid {row['grid_tilings']:>5} tilings, "
            f"{row['kept_tile_port_rows']:>6} (tiling, ports) rows kept; rows that "
            f"fit at Tk 1/3/5/7: "
            + " / ".join(str(v) for v in row["rows_fitting_at_tk"].values()),
            flush=True,
        )
    if FLAGS.reference:
        hwc = tuple(int(v) for v in FLAGS.input.split(","))
        rows = reference_rows(FLAGS.reference, FLAGS.platform, FLAGS.min_fps, hwc)
        met = sum(r["meets_spec"] for r in rows)
        fps = np.array([r["throughput"] for r in rows])
        print(
            f"reference set: {met} of {len(rows)} architectures meet "
            f">= {FLAGS.min_fps:g} images/s on {FLAGS.platform}; OptHW images/s "
            f"median {np.median(fps):,.0f} (min {fps.min():,.0f}, max {fps.max():,.0f})"
        )
        result["reference"] = {
            "file": FLAGS.reference,
            "platform": FLAGS.platform,
            "min_fps": FLAGS.min_fps,
            "meet_spec": met,
            "architectures": rows,
        }
    result["seconds"] = time.perf_counter() - start
    if FLAGS.out:
        with open(FLAGS.out, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
