r"""Export a found design as HLS C++ accelerators, one per pipeline stage.

  python -m experiments.export_hls --workdir=runs/default --out=hls_out \
      [--design=OptSW] [--csim_images=0]

--design is OptSW, OptHW, an index into the run's pareto.json front, or a
JSON file holding one design in best_designs.json's entry format. The
network's weights come from the run's final training (seed 0's, else the
first finalized seed); an architecture never finalized is refused: run
``python -m experiments.finalize --workdir=RUN`` first. --out receives the
project (see its README.md). With --csim_images=N the project is also
C-simulated with g++ on N test images (float and fixed-point builds) and
checked against the JAX network, the fixed-point emulation and the cost
model; the float and quantized networks are scored on the whole test split.
The figures go to --out/csim_report.json and the last line printed.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from absl import flags

from cosearch.files.atomic import atomic_write_text
from cosearch.final.settings import final_task
from cosearch.hardware.devices import load_library, resolve_platform
from cosearch.hls import verify
from cosearch.hls.design import parse_design
from cosearch.hls.export import ExportResult, export
from cosearch.hls.source import design_entry, final_weights
from cosearch.search import setup as search_setup
from experiments import common

_WORKDIR = flags.DEFINE_string("workdir", None, "A search's output folder.")
_DESIGN = flags.DEFINE_string(
    "design", "OptSW", "OptSW, OptHW, a Pareto-front index, or a design JSON file."
)
_OUT = flags.DEFINE_string("out", None, "Folder of the exported project.")
_CSIM_IMAGES = flags.DEFINE_integer(
    "csim_images", 0, "C-simulate and check on this many test images (0: no)."
)

# Training images whose activations set the fixed-point formats.
CALIBRATION_IMAGES = 32


def export_run(workdir: str, design: str, out: str) -> tuple[ExportResult, Any]:
    """Export a design of a search workdir (the launcher without flags).

    Args:
      workdir: the search's output folder.
      design: OptSW, OptHW, a Pareto-front index or a design JSON file.
      out: the project folder.

    Returns:
      (the :class:`ExportResult`, the run's data set as final training
      sees it: ``val`` is the test split).
    """
    config = common.run_config(workdir)
    library = load_library(config.platform.hardware_file or None)
    platform = resolve_platform(config.platform.name, library)
    entry, _ = design_entry(workdir, design)
    checked = parse_design(
        entry,
        library,
        bits=int(config.platform.bits),
        enforce_bram=bool(config.platform.enforce_bram),
        pool=None if os.path.isfile(design) else platform.device_names,
    )
    weights = final_weights(workdir, checked.architecture)
    setup = search_setup.build(config)
    data = final_task(setup.dataset)
    result = export(
        out,
        checked,
        checked.architecture,
        weights.variables,
        setup.input_shape,
        str(config.train.head),
        data.num_classes,
        data.train.images[:CALIBRATION_IMAGES],
        source={
            "workdir": os.path.abspath(workdir),
            "design": design,
            "seed": weights.record["seed"],
            "settings_id": weights.record["settings_id"],
            "test_accuracy": weights.record.get("test_accuracy"),
        },
    )
    return result, data


def main(argv):
    common.require(argv, workdir=_WORKDIR.value, out=_OUT.value)
    workdir = os.path.abspath(_WORKDIR.value)
    if _CSIM_IMAGES.value < 0:
        raise common.UsageError(f"--csim_images must be >= 0, got {_CSIM_IMAGES.value}")
    t0 = time.perf_counter()
    result, data = export_run(workdir, _DESIGN.value, _OUT.value)
    export_s = time.perf_counter() - t0
    design = result.design
    print(
        f"exported {design.architecture} ({len(design.stages)} stages) to {result.out}"
    )
    for s, (st, (fixed, flt)) in enumerate(
        zip(design.stages, result.resources, strict=True)
    ):
        print(
            f"  stage {s} {st.device} layers {st.first}..{st.last}: fixed DSP "
            f"{fixed.dsp} (model {fixed.dsp_model}), BRAM18K {fixed.bram18} (model "
            f"{fixed.bram18_model}), LUTRAM {fixed.lutram} LUTs (model "
            f"{fixed.lutram_model}); float DSP {flt.dsp}, BRAM18K {flt.bram18} "
            f"(model {flt.bram18_model})"
        )
    if not _CSIM_IMAGES.value:
        return
    test = data.val
    n = min(_CSIM_IMAGES.value, len(test.labels))
    report = verify.verify(result, test.images[:n], scored=(test.images, test.labels))
    figures = {"export_s": export_s, **report.as_json()}
    atomic_write_text(
        os.path.join(result.out, "csim_report.json"), json.dumps(figures, indent=1)
    )
    print(
        f"C-simulation on {n} test images: float vs JAX rel. error "
        f"{report.float_rel_error:.2e}; fixed vs emulation bit-exact: "
        f"{report.fixed_bit_exact}; top-1 agreement {100 * report.top1_agreement:.1f}%;"
        f" loop counts equal the cost model's: {report.counts_equal}"
    )
    print(
        f"test accuracy on {report.scored_images} images: float "
        f"{100 * report.float_accuracy:.2f}%, fixed point "
        f"{100 * report.quant_accuracy:.2f}%"
    )
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    common.run(main)
