"""The per-device grid of accelerator tilings the design optimizer searches.

A :class:`DeviceGrid` lists the values each of Tm, Tn, Tr, Tc, Wp, Ip, Op may
take on one FPGA (docs/design.md section 3); the declared design space of that FPGA
is their Cartesian product (Tk is not a grid axis: a stage always takes the
smallest Tk that covers its kernels). :func:`default_grid` sizes the lists to a
device's budget; :func:`grids_from_json` reads user grids.

:func:`feasible_tilings` turns a declared grid into the table the optimizer
scans, dropping only tilings that can never be part of an optimum:

* DSP or port bits over the device's budget, or BRAM over budget even with
  the smallest Tk (BRAM only grows with Tk);
* port triples (Wp, Ip, Op) dominated by another triple of the grid that also
  fits the port budget: cycles never increase with a wider port, and ports
  cost neither DSP, BRAM nor power, so the dominated triple is never better.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cosearch.hardware.devices import (
    Device,
    HardwareConfigError,
    Platform,
    read_json_file,
)
from cosearch.hardware.layer_model import MAX_TILE
from cosearch.hardware.resources import resources

GRID_FIELDS = ("tm", "tn", "tr", "tc", "wp", "ip", "op")

_TM_LADDER = (8, 16, 24, 32, 48, 64, 96, 128)
_TN_LADDER = (1, 3, 4, 8, 12, 16, 24, 32)
_TILE_LADDER = (8, 16, 32)
_PORT_LADDER = (1, 2, 4, 8, 16, 32)


@dataclasses.dataclass(frozen=True)
class DeviceGrid:
    """Allowed values of each tiling parameter on one FPGA.

    Attributes:
      tm, tn, tr, tc, wp, ip, op: sorted tuples of distinct positive ints.
    """

    tm: tuple[int, ...]
    tn: tuple[int, ...]
    tr: tuple[int, ...]
    tc: tuple[int, ...]
    wp: tuple[int, ...]
    ip: tuple[int, ...]
    op: tuple[int, ...]

    def __post_init__(self):
        for name in GRID_FIELDS:
            values = getattr(self, name)
            if isinstance(values, str | bytes) or not isinstance(values, Sequence):
                raise HardwareConfigError(
                    f"grid {name!r} must be a list of integers, got {values!r}"
                )
            if not values:
                raise HardwareConfigError(f"grid {name!r} is an empty list")
            for v in values:
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise HardwareConfigError(
                        f"grid {name!r}: values must be positive integers, got {v!r}"
                    )
                if v > MAX_TILE:
                    raise HardwareConfigError(
                        f"grid {name!r}: {v} exceeds the largest accepted tile "
                        f"value, {MAX_TILE}"
                    )
            object.__setattr__(self, name, tuple(sorted(set(values))))

    @property
    def size(self) -> int:
        """Number of declared tilings (product of the list lengths)."""
        return math.prod(len(getattr(self, f)) for f in GRID_FIELDS)

    @classmethod
    def from_dict(cls, spec: Any, where: str = "grid") -> DeviceGrid:
        """From ``{"tm": [...], ..., "op": [...]}`` (all seven keys)."""
        if not isinstance(spec, Mapping):
            raise HardwareConfigError(f"{where}: expected a JSON object of lists")
        unknown = sorted(set(spec) - set(GRID_FIELDS))
        if unknown:
            raise HardwareConfigError(
                f"{where}: unknown key(s) {unknown}; expected {list(GRID_FIELDS)}"
            )
        missing = [f for f in GRID_FIELDS if f not in spec]
        if missing:
            raise HardwareConfigError(f"{where}: missing key(s) {missing}")
        try:
            return cls(**{f: spec[f] for f in GRID_FIELDS})
        except HardwareConfigError as e:
            raise HardwareConfigError(f"{where}: {e}") from None

    def as_dict(self) -> dict[str, list[int]]:
        return {f: list(getattr(self, f)) for f in GRID_FIELDS}


def default_grid(device: Device, bits: int = 16) -> DeviceGrid:
    """A grid sized to ``device``'s budget (at least 1,000 declared tilings).

    Tm up to half the MAC budget (DSP, or DSP / 5 at 32 bits), capped at 128;
    Tn up to a quarter of it, capped at 32; Tr, Tc in {8, 16, 32} (the
    feature-map sizes of 32x32 inputs); each port a power of two that leaves
    room for one word on each of the two other ports.
    """
    macs = device.dsp // (1 if bits == 16 else 5)
    words = device.port_bits // bits

    def upto(ladder, cap):
        kept = tuple(v for v in ladder if v <= cap)
        return kept or ladder[:1]

    ports = upto(_PORT_LADDER, max(words - 2, 1))
    return DeviceGrid(
        tm=upto(_TM_LADDER, macs // 2),
        tn=upto(_TN_LADDER, macs // 4),
        tr=_TILE_LADDER,
        tc=_TILE_LADDER,
        wp=ports,
        ip=ports,
        op=ports,
    )


def platform_grids(
    platform: Platform,
    grid: DeviceGrid | Mapping[str, DeviceGrid] | None = None,
    bits: int = 16,
) -> tuple[DeviceGrid, ...]:
    """One grid per pool slot.

    Args:
      platform: the pool.
      grid: ``None`` (defaults), one grid for every device, or a mapping from
        device name to grid (devices not named get their default grid).
      bits: word width, 16 or 32 (sizes the defaults).
    """
    out = []
    for dev in platform.devices:
        if isinstance(grid, DeviceGrid):
            out.append(grid)
        elif grid is not None and _lookup(grid, dev.name) is not None:
            out.append(_lookup(grid, dev.name))
        else:
            out.append(default_grid(dev, bits))
    if isinstance(grid, Mapping):
        names = {d.name.upper() for d in platform.devices}
        extra = sorted(k for k in grid if k.upper() not in names)
        if extra:
            raise HardwareConfigError(
                f"grid names device(s) {extra} not in platform {platform.name!r} "
                f"({', '.join(platform.device_names)})"
            )
    return tuple(out)


def _lookup(grid: Mapping[str, DeviceGrid], name: str) -> DeviceGrid | None:
    for key, value in grid.items():
        if key.upper() == name.upper():
            return value
    return None


def grids_from_json(
    spec: Any, source: str = "<grid>"
) -> DeviceGrid | dict[str, DeviceGrid]:
    """A grid from parsed JSON: one flat dict, or device name -> dict."""
    if not isinstance(spec, Mapping) or not spec:
        raise HardwareConfigError(
            f"{source}: expected {{'tm': [...], ...}} or {{device: {{...}}}}"
        )
    if any(k in GRID_FIELDS for k in spec):
        return DeviceGrid.from_dict(spec, source)
    return {
        name: DeviceGrid.from_dict(sub, f"{source}: device {name!r}")
        for name, sub in spec.items()
    }


def load_grid(path: str | os.PathLike) -> DeviceGrid | dict[str, DeviceGrid]:
    """A grid from a JSON file (see :func:`grids_from_json`)."""
    path = os.fspath(path)
    return grids_from_json(read_json_file(path, "grid file"), path)


def _pareto_ports(triples: np.ndarray) -> np.ndarray:
    """Mask of the triples ``[T, 3]`` not dominated by another one."""
    ge = np.all(triples[None, :, :] >= triples[:, None, :], axis=-1)  # j >= i
    gt = np.any(triples[None, :, :] > triples[:, None, :], axis=-1)
    return ~np.any(ge & gt, axis=1)


def feasible_tilings(device: Device, grid: DeviceGrid, bits: int = 16) -> np.ndarray:
    """The tilings of ``grid`` that may be optimal on ``device``.

    Drops tilings over the DSP or port budget, over the BRAM budget at Tk = 1,
    and with a dominated port triple (see the module docstring).

    Returns:
      ``[G, 7]`` int32 (tm, tn, tr, tc, wp, ip, op), possibly ``G = 0``.
    """
    ports = np.array(list(itertools.product(grid.wp, grid.ip, grid.op)), np.int32)
    ports = ports[bits * ports.sum(axis=1) <= device.port_bits]
    ports = ports[_pareto_ports(ports)] if len(ports) else ports
    tiles = np.array(
        list(itertools.product(grid.tm, grid.tn, grid.tr, grid.tc)), np.int32
    ).reshape(-1, 4)
    tm, tn, tr, tc = tiles.T
    res = resources(tm, tn, tr, tc, 1, 1, 1, 1, bits=bits, xp=np)
    # BRAM grows with Tk (every bank's words do, and a bank's blocks with its
    # words), so over budget at Tk = 1 is over at every Tk; LUTRAM and
    # flip-flops do not (a bank leaves them for BRAM as it grows): the design
    # space checks those per Tk.
    tiles = tiles[(res.dsp <= device.dsp) & (res.bram18 <= device.bram18)]
    table = np.concatenate(
        [np.repeat(tiles, len(ports), axis=0), np.tile(ports, (len(tiles), 1))], axis=1
    )
    return table.astype(np.int32).reshape(-1, len(GRID_FIELDS))


def grid_report(
    platform: Platform, grids: Sequence[DeviceGrid], bits: int = 16
) -> list[dict[str, Any]]:
    """Per pool slot: device, declared tilings, tilings kept for the search.

    Raises:
      HardwareConfigError: when no slot of the pool admits a feasible tiling
        (the message names the devices).
    """
    rows = []
    for slot, (dev, grid) in enumerate(zip(platform.devices, grids, strict=True)):
        rows.append(
            {
                "slot": slot,
                "device": dev.name,
                "declared": grid.size,
                "feasible": int(len(feasible_tilings(dev, grid, bits))),
            }
        )
    if not any(r["feasible"] for r in rows):
        raise HardwareConfigError(
            "the grid admits no feasible accelerator on any device of "
            f"{platform.name!r}: {', '.join(r['device'] for r in rows)} "
            "(every tiling exceeds the DSP, BRAM or port budget)"
        )
    return rows
