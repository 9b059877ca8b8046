"""Export a found design and its trained network as an HLS C++ project.

:func:`export` takes the design (best_designs.json's entry format or a
parsed :class:`HlsDesign`), the architecture, the trained variables and the
data's shape, checks everything first and only then writes the project
(:mod:`cosearch.hls.project`) into a fresh folder that replaces ``out`` in
one rename: a refused design leaves ``out`` untouched.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from cosearch.errors import UserError
from cosearch.hardware.architecture import Architecture
from cosearch.hardware.devices import Library
from cosearch.hardware.geometry import out_size
from cosearch.hardware.resources import word_bits
from cosearch.hls import project
from cosearch.hls.design import HlsDesign, HlsDesignError, parse_design
from cosearch.hls.engine import StageResources, engine_header, stage_resources
from cosearch.hls.fixed import StageFormat, choose_formats
from cosearch.hls.network import Network, fold, reference
from cosearch.hls.testbench import testbench

MANIFEST = "export.json"
MANIFEST_FORMAT = "cosearch-hls/1"


class HlsExportError(UserError, ValueError):
    """An export that cannot be done (weights that do not fit, a bad --out)."""


def ap_types_dir() -> str:
    """The vendored arbitrary-precision headers (``third_party/ap_types``)."""
    return str(Path(__file__).resolve().parents[2] / "third_party" / "ap_types")


class ExportResult(NamedTuple):
    """An exported project.

    Attributes:
      out: its folder.
      design: the checked design.
      network: the folded network.
      formats: per stage, the fixed-point formats.
      resources: per stage, (fixed build, float build) DSP/BRAM against the
        cost model.
    """

    out: str
    design: HlsDesign
    network: Network
    formats: tuple[StageFormat, ...]
    resources: tuple[tuple[StageResources, StageResources], ...]


def read_manifest(project_dir: str) -> dict[str, Any]:
    """The ``export.json`` of an exported project."""
    path = os.path.join(project_dir, MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise HlsExportError(f"{project_dir}: not an exported project ({e})") from None
    if manifest.get("format") != MANIFEST_FORMAT:
        raise HlsExportError(f"{path}: not a {MANIFEST_FORMAT} manifest")
    return manifest


def _resources(design: HlsDesign, formats: Sequence[StageFormat]):
    return tuple(
        (
            stage_resources(st.tiling, fmt.word_bits(), 16),
            stage_resources(st.tiling, word_bits(32), 32),
        )
        for st, fmt in zip(design.stages, formats, strict=True)
    )


def _readme(design: HlsDesign, network: Network, resources) -> str:
    res = "\n".join(
        f"| {s} | {fx.dsp} | {fx.dsp_model} | {fx.bram18} | {fx.bram18_model} "
        f"| {fx.lutram} | {fx.lutram_model} | {fl.dsp} | {fl.bram18} "
        f"| {fl.bram18_model} |"
        for s, (fx, fl) in enumerate(resources)
    )
    stages = "\n".join(
        f"| {s} | {st.first}..{st.last} | {st.device} | {st.part or '(set PART)'} "
        f"| {st.tiling.tm} | {st.tiling.tn} | {st.tiling.tr} | {st.tiling.tc} "
        f"| {st.tiling.tk} |"
        for s, st in enumerate(design.stages)
    )
    return f"""# HLS accelerators of {network.architecture}

One accelerator per pipeline stage, each a loop-tiled convolution engine
(`cosearch_engine.h`, Zhang et al. FPGA'15 style) with its stage's tiling as
compile-time constants; layer shapes are run-time arguments of the top
function `cosearch_stage<s>` (one layer per call). Each layer is conv + bias,
ReLU, then BatchNorm as a per-channel scale and shift. The classifier head
({network.head} -> dense) runs in the testbench, in float.

| stage | layers | FPGA | part | Tm | Tn | Tr | Tc | Tk |
|---|---|---|---|---|---|---|---|---|
{stages}

Words: `-DCOSEARCH_FLOAT` builds float everywhere; otherwise 16-bit
`ap_fixed` activations and weights (formats per stage in `export.json`),
wide exact accumulators, AP_RND rounding and AP_SAT saturation.

C-simulation with g++ (no Xilinx tools): write `images.bin` (int32 count, H,
W, C, then float32 NHWC images, normalised like the training data), then
`make csim` (fixed) or `make csim_float`; results go to `csim_out/`
(`logits.bin`, `features.bin`). `-DCOSEARCH_COUNT_LOOPS` builds
(`build/csim_fixed_count`) also write `loop_counts.csv`. `AP_TYPES` points
at the ap_types headers.

Vitis HLS: `cd stage<s> && vitis_hls -f run_hls.tcl` (C-simulation, then
synthesis for the stage's part).

Parameters (`params/`) are binary files the testbench reads: weights live in
external memory and the accelerator loads tiles of them.

Resources: DSP = the Tm x Tn multipliers of the MAC array (x5 in float), the
cost model's rule, plus one BatchNorm multiplier in the store loop (not in
the model). Memory: each buffer bank is stored by its size, as each stage's
`accel.cpp` declares it (`BIND_STORAGE` / `ARRAY_PARTITION`): fewer than 4
words in registers, up to 64 in LUTRAM, larger ones in the fewest RAMB18
blocks of the shapes 16K x 1 ... 512 x 36; "model" is
`accelerator_resources` at 16 (fixed) or 32 (float) bits, which reads the
same buffer records: the two are equal by construction (`export.json` has
the per-buffer figures).

| stage | DSP fix | model | BRAM fix | model | LUTRAM fix | model | DSP float \
| BRAM float | model |
|---|---|---|---|---|---|---|---|---|---|
{res}
"""


def _manifest(result: ExportResult, source: Mapping[str, Any] | None) -> str:
    net, design = result.network, result.design
    h, w = net.input_shape[:2]
    for _, f, s in net.architecture.layers:
        h, w, last = out_size(h, s), out_size(w, s), f
    stages = []
    for s, st in enumerate(design.stages):
        fixed, flt = result.resources[s]
        fmt = result.formats[s]
        stages.append(
            {
                "layers": [st.first, st.last],
                "device": st.device,
                "part": st.part,
                "tiling": dataclasses.asdict(st.tiling),
                "format": fmt._asdict(),
                "typedefs": fmt.typedefs(),
                "resources": {
                    "fixed": {
                        **fixed._asdict(),
                        "buffers": [b._asdict() for b in fixed.buffers],
                    },
                    "float": {
                        **flt._asdict(),
                        "buffers": [b._asdict() for b in flt.buffers],
                    },
                },
            }
        )
    return json.dumps(
        {
            "format": MANIFEST_FORMAT,
            "architecture": str(net.architecture),
            "input_shape": list(net.input_shape),
            "head": net.head,
            "num_classes": net.num_classes,
            "output_shape": [h, w, last],
            "bits": design.bits,
            "ap_types": ap_types_dir(),
            "source": dict(source or {}),
            "stages": stages,
        },
        indent=1,
    )


def _check_out(out: str) -> None:
    if os.path.exists(out) and not os.path.isdir(out):
        raise HlsExportError(f"--out={out}: exists and is not a folder")
    if os.path.isdir(out) and os.listdir(out):
        if not os.path.isfile(os.path.join(out, MANIFEST)):
            raise HlsExportError(
                f"--out={out}: a folder with other files in it; give a new or "
                "empty folder (or an earlier export, which is replaced)"
            )


def _write(out: str, files: Mapping[str, str | bytes]) -> None:
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".hls-export-", dir=parent)
    try:
        for rel, content in files.items():
            path = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            mode = "wb" if isinstance(content, bytes) else "w"
            with open(path, mode) as f:
                f.write(content)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp made it private
        old = None
        if os.path.isdir(out):
            old = tempfile.mkdtemp(prefix=".hls-old-", dir=parent)
            os.rename(out, os.path.join(old, "x"))
        os.rename(tmp, out)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def export(
    out: str,
    design: Mapping[str, Any] | HlsDesign,
    architecture: Architecture | Sequence[Sequence[int]],
    variables: Mapping[str, Any],
    input_shape: Sequence[int],
    head: str,
    num_classes: int,
    calibration_images: np.ndarray,
    *,
    library: Library | None = None,
    bits: int = 16,
    enforce_bram: bool = True,
    pool: Sequence[str] | None = None,
    source: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Write the HLS project of a design and its trained network to ``out``.

    Args:
      out: the project folder (new, empty, or an earlier export).
      design: an entry in best_designs.json's format, or a parsed design.
      architecture: the network's conv layers.
      variables: its trained ``{"params", "batch_stats"}``.
      input_shape: (height, width, channels) of an image.
      head: "gap" or "flatten".
      num_classes: outputs of the head.
      calibration_images: ``[B, H, W, C]`` float32, a few images whose float
        activations set the activation formats (:mod:`cosearch.hls.fixed`).
      library: FPGA devices known (default: the built-in library).
      bits: word width of the cost model the design is checked at.
      enforce_bram: whether BRAM over a device's budget refuses the design.
      pool: the platform's device names by slot (checks the design's slots).
      source: where the design came from (recorded in export.json).

    Returns:
      An :class:`ExportResult`.

    Raises:
      HlsDesignError: a malformed or infeasible design (nothing written).
      HlsExportError: variables that do not fit, or a bad ``out``.
    """
    arch = (
        architecture
        if isinstance(architecture, Architecture)
        else Architecture(tuple(tuple(lay) for lay in architecture))
    )
    if isinstance(design, HlsDesign):
        if design.architecture != arch:
            raise HlsDesignError(
                f"design is for architecture {design.architecture}, not {arch}"
            )
        checked = design
    else:
        checked = parse_design(
            design,
            library,
            architecture=arch,
            bits=bits,
            enforce_bram=enforce_bram,
            pool=pool,
        )
    _check_out(out)
    try:
        network = fold(arch, variables, input_shape, head, num_classes)
    except (KeyError, ValueError) as e:
        raise HlsExportError(f"weights do not fit {arch}: {e}") from None
    calib = np.asarray(calibration_images, np.float32)
    _, maps = reference(network, calib)
    stages = [list(st.layer_indices) for st in checked.stages]
    try:
        formats = choose_formats(network, stages, [calib, *maps])
    except ValueError as e:  # a stage past the fixed-point datapath
        raise HlsExportError(f"cannot export in 16-bit fixed point: {e}") from None
    result = ExportResult(
        out=os.path.abspath(out),
        design=checked,
        network=network,
        formats=formats,
        resources=_resources(checked, formats),
    )
    files: dict[str, str | bytes] = {
        project.ENGINE_FILE: engine_header(),
        "network.h": project.network_header(network, checked),
        "tb.cpp": testbench(checked),
        "Makefile": project.makefile(checked, ap_types_dir()),
        "README.md": _readme(checked, network, result.resources),
        MANIFEST: _manifest(result, source),
        **project.param_files(network, checked, formats),
    }
    for s, fmt in enumerate(formats):
        files[f"stage{s}/accel.h"] = project.stage_header(s, checked, fmt)
        files[f"stage{s}/accel.cpp"] = project.stage_source(s, network, checked)
        files[f"stage{s}/run_hls.tcl"] = project.tcl_script(s, checked)
    _write(out, files)
    return result
