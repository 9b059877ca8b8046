"""The design space the optimizer scans, and its tables by device type.

A design of a network on a platform (pool of P FPGAs) is a number of stages,
contiguous layer ranges, a distinct pool slot per stage (any order along the
chain) and each stage's tiling from its device's grid (docs/design.md section 4).
:func:`design_space` prepares that space once per (platform, grids, bits,
BRAM switch): the kept tilings of every slot's grid
(:func:`cosearch.hardware.grid.feasible_tilings`), with identical device
records on identical grids sharing one device type and its work.
:func:`row_tables` lays the kept tilings out by type, T types each padded to
G rows, with the per-row figures (power terms, BRAM budget, clock and link
rates) the optimizer needs; a row's BRAM depends on the largest kernel (Tk)
of the layers a stage runs, so the optimizer forms it per layer range.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from cosearch.hardware.devices import Platform
from cosearch.hardware.grid import (
    DeviceGrid,
    feasible_tilings,
    grid_report,
    platform_grids,
)
from cosearch.hardware.layer_model import MAX_KERNEL
from cosearch.hardware.resources import dsp as dsp_count
from cosearch.hardware.resources import memory


@dataclasses.dataclass(frozen=True, eq=False)
class DesignSpace:
    """A platform with the tilings the optimizer scans (host side, immutable).

    Build with :func:`design_space`. Compared and hashed by identity: build it
    once per run so compiled programs are reused.

    Attributes:
      platform: the pool of P FPGAs.
      grids: declared grid of each pool slot.
      bits: word width, 16 or 32.
      enforce_bram: whether on-chip memory (BRAM18K, LUTRAM, flip-flops of
        the buffer banks) counts for feasibility.
      slot_type: per slot, the index of its device type (identical device
        records with identical grids share one type and its work).
      segments: per type, ``(start, stop)`` rows of ``table``.
      table: ``[G, 7]`` int32 kept tilings (tm, tn, tr, tc, wp, ip, op),
        types concatenated.
      row_ok: ``[G]`` bool, False for the placeholder row of a type that
        keeps no tiling.
      report: per slot, ``{"slot", "device", "declared", "feasible"}``.
    """

    platform: Platform
    grids: tuple[DeviceGrid, ...]
    bits: int
    enforce_bram: bool
    slot_type: tuple[int, ...]
    segments: tuple[tuple[int, int], ...]
    table: np.ndarray
    row_ok: np.ndarray
    report: tuple[dict[str, Any], ...]

    @property
    def pool_size(self) -> int:
        return self.platform.size

    def type_device(self, t: int):
        return self.platform.devices[self.slot_type.index(t)]

    def designs_covered(self, num_layers: int, kept: bool = False) -> float:
        """Designs in the space for a network of ``num_layers`` layers.

        Sum over stage counts m of C(n - 1, m - 1) partitions times every
        ordered choice of m distinct slots times the product of their grid
        sizes (declared, or kept after pruning when ``kept``).
        """
        sizes = [r["feasible" if kept else "declared"] for r in self.report]
        e = [1.0] + [0.0] * len(sizes)  # elementary symmetric polynomials
        for g in sizes:
            for m in range(len(sizes), 0, -1):
                e[m] += e[m - 1] * g
        return float(
            sum(
                math.comb(num_layers - 1, m - 1) * math.factorial(m) * e[m]
                for m in range(1, min(num_layers, len(sizes)) + 1)
            )
        )


def design_space(
    platform: Platform,
    grid: DeviceGrid | Mapping[str, DeviceGrid] | None = None,
    *,
    bits: int = 16,
    enforce_bram: bool = True,
) -> DesignSpace:
    """The :class:`DesignSpace` of ``platform`` with ``grid`` (default grids).

    The same (platform, grids, bits, enforce_bram) gives the same object, so
    its compiled programs are reused.

    Raises:
      HardwareConfigError: when the grid fits no device of the pool.
    """
    return _design_space(
        platform, platform_grids(platform, grid, bits), bits, bool(enforce_bram)
    )


@functools.lru_cache(maxsize=32)
def _design_space(
    platform: Platform, grids: tuple[DeviceGrid, ...], bits: int, enforce_bram: bool
) -> DesignSpace:
    report = grid_report(platform, grids, bits)
    keys, slot_type = [], []
    for dev, g in zip(platform.devices, grids, strict=True):
        if (dev, g) not in keys:
            keys.append((dev, g))
        slot_type.append(keys.index((dev, g)))
    tables, ok, segments, start = [], [], [], 0
    for dev, g in keys:
        tab = feasible_tilings(dev, g, bits)
        if len(tab) == 0:  # placeholder row, never feasible
            tab, row_ok = np.ones((1, 7), np.int32), np.zeros(1, bool)
        else:
            row_ok = np.ones(len(tab), bool)
        tables.append(tab)
        ok.append(row_ok)
        segments.append((start, start + len(tab)))
        start += len(tab)
    return DesignSpace(
        platform=platform,
        grids=grids,
        bits=bits,
        enforce_bram=enforce_bram,
        slot_type=tuple(slot_type),
        segments=tuple(segments),
        table=np.concatenate(tables),
        row_ok=np.concatenate(ok),
        report=tuple(report),
    )


def row_tables(space: DesignSpace) -> dict[str, np.ndarray]:
    """Kept tilings by device type, padded to ``[T, G]`` (G = largest type).

    A row's BRAM depends on Tk, the largest kernel of the layers a stage
    runs: ``fits[k - 1]`` and ``power[k - 1]`` (``[MAX_KERNEL, T, G]``) are
    a row's BRAM feasibility (False on padding rows; True when BRAM is not
    enforced) and stage power ``static_w + (dsp_w * DSP + bram_w * BRAM18K)``
    (float32, the cost model's order) at Tk = k.
    """
    num_types = len(space.segments)
    width = max(b - a for a, b in space.segments)
    table = np.ones((num_types, width, 7), np.int64)
    ok = np.zeros((num_types, width), bool)
    for t, (a, b) in enumerate(space.segments):
        table[t, : b - a] = space.table[a:b]
        ok[t, : b - a] = space.row_ok[a:b]
    devs = [space.type_device(t) for t in range(num_types)]
    per = lambda f: np.array([getattr(d, f) for d in devs], np.float64)[:, None]
    f32 = lambda x: np.asarray(x, np.float32)
    tm, tn, tr, tc = (table[..., i] for i in range(4))
    tk = np.arange(1, MAX_KERNEL + 1)[:, None, None]
    mem = memory(tm, tn, tr, tc, tk, space.bits, xp=np)  # [K, T, G] each
    bram = mem.bram18
    fits = ok & (
        (
            (bram <= per("bram18"))
            & (mem.luts <= per("lutram"))
            & (mem.ffs <= per("ffs"))
        )
        if space.enforce_bram
        else True
    )
    dsp = f32(per("dsp_w")) * f32(dsp_count(tm, tn, space.bits))
    return {
        "table": table.astype(np.int32),  # [T, G, 7]
        "ftable": f32(np.moveaxis(table, -1, 0)),  # [7, T, G]
        "fits": np.broadcast_to(fits, bram.shape),  # [K, T, G]
        "power": f32(per("static_w")) + (dsp + f32(per("bram_w")) * f32(bram)),
        "inv_clock": f32(1.0 / per("clock_hz")),  # [T, 1]
        "inv_link": f32(1.0 / per("link_bps")),
    }
