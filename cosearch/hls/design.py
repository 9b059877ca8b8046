"""A found design as the exporter takes it: parsed, checked, refused in one line.

The format is that of an entry of a run's ``best_designs.json`` (``OptSW``,
``OptHW``) or of its ``pareto.json`` front: ``{"architecture": "k,f,s;...",
"layers": [[k, f, s], ...], "design": {"stages": [{"layers": [first, last],
"slot": i, "device": "XC7Z020", "tiling": {"tm": .., "tn": .., "tr": ..,
"tc": .., "tk": .., "wp": .., "ip": .., "op": ..}}, ...]}}``. Feasibility is
the cost model's (:func:`cosearch.hardware.cost_model.evaluate`): DSP,
BRAM18K (when enforced) and ports within the device's budget, and Tk
covering every kernel of the stage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from cosearch.errors import UserError
from cosearch.hardware import cost_model
from cosearch.hardware.architecture import Architecture, arch_arrays
from cosearch.hardware.design import Design, Stage, design_arrays
from cosearch.hardware.devices import HardwareConfigError, Library, Platform
from cosearch.hardware.layer_model import TILING_FIELDS, Tiling
from cosearch.hardware.platform_arrays import platform_arrays

# Vitis HLS part of each device of the built-in library (a common board's).
PARTS = {
    "XC7A50T": "xc7a50tcsg324-1",
    "XC7Z015": "xc7z015clg485-1",
    "XC7Z020": "xc7z020clg400-1",
    "XC7Z045": "xc7z045ffg900-2",
    "XCZU9EG": "xczu9eg-ffvb1156-2-e",
    "XC7VX485T": "xc7vx485tffg1761-2",
    "XC7VX690T": "xc7vx690tffg1761-2",
}


class HlsDesignError(UserError, ValueError):
    """A design that cannot be exported (malformed, infeasible, or not the
    architecture's)."""


@dataclasses.dataclass(frozen=True)
class HlsStage:
    """One pipeline stage to export.

    Attributes:
      first: its first layer (0-based).
      last: its last layer (inclusive).
      device: the FPGA's name in the device library.
      part: its Vitis HLS part, or None if unknown (the Tcl script then
        needs ``PART`` set).
      tiling: the accelerator's tiling.
    """

    first: int
    last: int
    device: str
    part: str | None
    tiling: Tiling

    @property
    def layer_indices(self) -> range:
        return range(self.first, self.last + 1)


@dataclasses.dataclass(frozen=True)
class HlsDesign:
    """An architecture and the checked design that runs it.

    Attributes:
      architecture: the network's conv layers.
      stages: the pipeline stages, in order.
      bits: the word width the design was checked at (16 or 32).
    """

    architecture: Architecture
    stages: tuple[HlsStage, ...]
    bits: int

    def stage_of(self, layer: int) -> int:
        """Index of the stage that runs ``layer``."""
        for i, st in enumerate(self.stages):
            if st.first <= layer <= st.last:
                return i
        raise IndexError(layer)


def _architecture(entry: Mapping[str, Any]) -> Architecture:
    """The architecture an entry names (its ``layers``, else ``architecture``)."""
    if "layers" in entry:
        try:
            return Architecture(tuple(tuple(lay) for lay in entry["layers"]))
        except (TypeError, ValueError) as e:
            raise HlsDesignError(f"design 'layers': {e}") from None
    try:
        return Architecture.parse(str(entry["architecture"]))
    except ValueError as e:
        raise HlsDesignError(f"design 'architecture': {e}") from None


def _stage(i: int, rec: Any, library: Library) -> tuple[HlsStage, int]:
    where = f"design stage {i}"
    if not isinstance(rec, Mapping):
        raise HlsDesignError(f"{where}: expected a JSON object, got {rec!r}")
    for key in ("layers", "device", "tiling"):
        if key not in rec:
            raise HlsDesignError(f"{where}: missing {key!r}")
    span = rec["layers"]
    if (
        not isinstance(span, Sequence)
        or len(span) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in span)
    ):
        raise HlsDesignError(f"{where}: 'layers' must be [first, last], got {span!r}")
    tiling = rec["tiling"]
    if not isinstance(tiling, Mapping) or set(tiling) != set(TILING_FIELDS):
        raise HlsDesignError(
            f"{where}: 'tiling' must have exactly the fields {list(TILING_FIELDS)}"
        )
    try:
        tiling = Tiling(**{f: tiling[f] for f in TILING_FIELDS})
    except ValueError as e:
        raise HlsDesignError(f"{where}: {e}") from None
    if not isinstance(rec["device"], str):
        raise HlsDesignError(f"{where}: 'device' must be a name, got {rec['device']!r}")
    try:
        device = library.device(rec["device"])
    except HardwareConfigError as e:
        raise HlsDesignError(f"{where}: {e}") from None
    slot = rec.get("slot", i)
    if not isinstance(slot, int) or isinstance(slot, bool) or slot < 0:
        raise HlsDesignError(f"{where}: 'slot' must be an int >= 0, got {slot!r}")
    stage = HlsStage(span[0], span[1], device.name, PARTS.get(device.name), tiling)
    return stage, slot


# Stage feasibility does not depend on the input size; the cost model needs
# one to lay out its arrays.
_NOMINAL_INPUT = (32, 32, 3)


def check_feasible(
    design: HlsDesign, library: Library, enforce_bram: bool = True
) -> None:
    """Refuse a stage the cost model finds infeasible on its FPGA.

    The verdict is :func:`cosearch.hardware.cost_model.evaluate`'s
    ``stage_feasible`` (the design on a pool of its stages' FPGAs); the
    message names the budgets its figures exceed.

    Raises:
      HlsDesignError: DSP, BRAM18K (if ``enforce_bram``) or port bits over
        the device's budget, or Tk below a kernel of the stage.
    """
    devices = tuple(library.device(st.device) for st in design.stages)
    hw = Design(
        tuple(
            Stage(st.first, st.last, i, st.tiling) for i, st in enumerate(design.stages)
        )
    )
    figures = cost_model.evaluate(
        arch_arrays([design.architecture], _NOMINAL_INPUT),
        design_arrays([hw], design.architecture.depth, len(devices)),
        platform_arrays(Platform("export", devices)),
        bits=design.bits,
        enforce_bram=enforce_bram,
    )
    for i, (st, dev) in enumerate(zip(design.stages, devices, strict=True)):
        if bool(figures.stage_feasible[0, i]):
            continue
        over = [
            f"{what} {used} > {have}"
            for what, used, have in (
                ("DSP", int(figures.stage_dsp[0, i]), dev.dsp),
                ("BRAM18K", int(figures.stage_bram18[0, i]), dev.bram18),
                ("LUTRAM LUTs", int(figures.stage_lutram[0, i]), dev.lutram),
                ("flip-flops", int(figures.stage_ffs[0, i]), dev.ffs),
                ("port bits", int(figures.stage_port_bits[0, i]), dev.port_bits),
            )
            if used > have and (what in ("DSP", "port bits") or enforce_bram)
        ]
        kmax = max(design.architecture.layers[j].kernel for j in st.layer_indices)
        if st.tiling.tk < kmax:
            over.append(f"Tk {st.tiling.tk} < kernel {kmax}")
        raise HlsDesignError(
            f"design stage {i}: tiling does not fit {dev.name} at "
            f"{design.bits} bits: {', '.join(over)}"
        )


def parse_design(
    entry: Any,
    library: Library | None = None,
    *,
    architecture: Architecture | None = None,
    bits: int = 16,
    enforce_bram: bool = True,
    pool: Sequence[str] | None = None,
) -> HlsDesign:
    """A design entry (best_designs.json's format) as a checked :class:`HlsDesign`.

    Args:
      entry: the entry, with ``design`` (and ``layers`` or ``architecture``
        unless ``architecture`` is given).
      library: the FPGA devices known (default: the built-in library).
      architecture: the network, when the entry does not name it (it must
        agree with the entry's when both are given).
      bits: word width of the cost model's resource rule (16 or 32).
      enforce_bram: whether BRAM18K over budget refuses the design.
      pool: the platform's device names by slot; when given, each stage's
        slot must be in range and hold the stage's device.

    Raises:
      HlsDesignError: anything malformed or infeasible, in one line.
    """
    library = library or Library()
    if not isinstance(entry, Mapping):
        raise HlsDesignError("a design must be a JSON object")
    named = (
        _architecture(entry) if "layers" in entry or "architecture" in entry else None
    )
    if architecture is not None and named is not None and named != architecture:
        raise HlsDesignError(f"design is for architecture {named}, not {architecture}")
    arch = architecture or named
    if arch is None:
        raise HlsDesignError("design has neither 'layers' nor 'architecture'")
    body = entry.get("design")
    if not isinstance(body, Mapping) or not isinstance(body.get("stages"), list):
        raise HlsDesignError("design: missing 'design': {'stages': [...]}")
    parsed = [_stage(i, rec, library) for i, rec in enumerate(body["stages"])]
    stages = tuple(st for st, _ in parsed)
    slots = [slot for _, slot in parsed]
    pool_size = len(pool) if pool is not None else max([*slots, len(stages) - 1]) + 1
    try:
        Design(
            tuple(Stage(st.first, st.last, slot, st.tiling) for st, slot in parsed)
        ).validate(arch.depth, pool_size)
    except ValueError as e:
        raise HlsDesignError(f"design: {e}") from None
    if pool is not None:
        for i, (st, slot) in enumerate(parsed):
            if library.device(pool[slot]).name != st.device:
                raise HlsDesignError(
                    f"design stage {i}: slot {slot} of the platform is "
                    f"{pool[slot]}, not {st.device}"
                )
    design = HlsDesign(arch, stages, int(bits))
    check_feasible(design, library, enforce_bram)
    return design
