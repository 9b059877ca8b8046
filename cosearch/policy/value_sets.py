"""The value sets a search space chooses from (docs/design.md sections 2, 3).

:class:`ArchSpace` holds the per-layer choices (kernels, filters, strides)
of a fixed depth; :class:`HardwareSpace` the per-parameter tiling and port
values of every stage slot of the pool. Both keep their values sorted and
distinct, so that a token is an index into them
(:mod:`cosearch.policy.space`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

# Tiling parameters that are tokens, in token order (Tk is derived).
TILING_TOKENS = ("tm", "tn", "tr", "tc", "wp", "ip", "op")

# Largest pool: the masks keep the FPGAs in use as bits of an int32.
MAX_POOL = 31

# Default value sets. Tm x Tn spans a Zynq-7020 (220 DSP) up to a ZCU102
# (2520 DSP); Tr, Tc up to a 32x32 image; ports up to 32 words per cycle
# (16-bit words on a 512-bit port).
DEFAULT_TM = (4, 8, 16, 32, 64, 128)
DEFAULT_TN = (2, 4, 8, 16, 32, 64)
DEFAULT_TR = (1, 2, 4, 8, 16, 32)
DEFAULT_TC = (1, 2, 4, 8, 16, 32)
DEFAULT_PORT = (1, 2, 4, 8, 16, 32)


def value_set(name: str, values: Sequence[int]) -> tuple[int, ...]:
    """Sorted, distinct positive ints; raises ValueError naming ``name``."""
    try:
        vals = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name}: expected a sequence of integers, got {values!r}"
        ) from None
    if not vals:
        raise ValueError(f"{name}: the value set is empty")
    if any(v < 1 for v in vals):
        raise ValueError(f"{name}: values must be positive, got {vals}")
    if len(set(vals)) != len(vals):
        raise ValueError(f"{name}: values repeat, got {vals}")
    return tuple(sorted(vals))


def index_of(name: str, values: tuple[int, ...], value: int) -> int:
    """Position of ``value`` in ``values``; ValueError naming ``name`` if absent."""
    try:
        return values.index(int(value))
    except ValueError:
        raise ValueError(
            f"{name}={value} is not in the search space's value set {values}"
        ) from None


@dataclasses.dataclass(frozen=True)
class ArchSpace:
    """Architecture value sets (docs/design.md section 2); values are kept sorted.

    Attributes:
      depth: number of conv layers (fixed per run).
      kernels: square kernel sizes.
      filters: output channels.
      strides: strides; ``(1,)`` is "fixed stride", ``(1, 2)`` "predictable
        stride". With one value no stride token is emitted.
    """

    depth: int
    kernels: tuple[int, ...] = (1, 3, 5, 7)
    filters: tuple[int, ...] = (24, 36, 48, 64)
    strides: tuple[int, ...] = (1,)

    def __post_init__(self):
        if isinstance(self.depth, bool) or int(self.depth) != self.depth:
            raise ValueError(f"depth must be an integer, got {self.depth!r}")
        if self.depth < 1:
            raise ValueError(f"depth must be at least 1, got {self.depth}")
        object.__setattr__(self, "depth", int(self.depth))
        for name in ("kernels", "filters", "strides"):
            object.__setattr__(self, name, value_set(name, getattr(self, name)))

    @property
    def fields(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """(name, values) of each per-layer token, in token order."""
        out = (("kernel", self.kernels), ("filters", self.filters))
        if len(self.strides) > 1:
            out += (("stride", self.strides),)
        return out

    @property
    def num_tokens(self) -> int:
        return self.depth * len(self.fields)


@dataclasses.dataclass(frozen=True)
class HardwareSpace:
    """Hardware value sets (docs/design.md section 3); values are kept sorted.

    Use the union of the per-device design grids so that any design the
    optimizer refines can be encoded back to tokens.

    Attributes:
      pool_size: FPGAs in the platform's pool (= stage slots).
      tm, tn, tr, tc: tile sizes Tm, Tn, Tr, Tc.
      wp, ip, op: weight, input and output port widths, words per cycle.
    """

    pool_size: int
    tm: tuple[int, ...] = DEFAULT_TM
    tn: tuple[int, ...] = DEFAULT_TN
    tr: tuple[int, ...] = DEFAULT_TR
    tc: tuple[int, ...] = DEFAULT_TC
    wp: tuple[int, ...] = DEFAULT_PORT
    ip: tuple[int, ...] = DEFAULT_PORT
    op: tuple[int, ...] = DEFAULT_PORT

    def __post_init__(self):
        p = self.pool_size
        if isinstance(p, bool) or int(p) != p or not 1 <= p <= MAX_POOL:
            raise ValueError(
                f"pool_size must be an integer in 1..{MAX_POOL}, got {p!r}"
            )
        object.__setattr__(self, "pool_size", int(p))
        for name in TILING_TOKENS:
            object.__setattr__(self, name, value_set(name, getattr(self, name)))

    def values(self, name: str) -> tuple[int, ...]:
        """The value set of tiling parameter ``name`` (one of TILING_TOKENS)."""
        return getattr(self, name)

    @classmethod
    def union(cls, grids: Sequence[Any]) -> HardwareSpace:
        """One slot per grid; each value set is the union over the grids.

        Args:
          grids: per pool slot, a record with ``tm, tn, tr, tc, wp, ip, op``
            value sequences (e.g. ``cosearch.hardware.grid.DeviceGrid``).
        """
        if not grids:
            raise ValueError("need at least one grid (one per pool slot)")
        values = {
            name: tuple(sorted({int(v) for g in grids for v in getattr(g, name)}))
            for name in TILING_TOKENS
        }
        return cls(len(grids), **values)
