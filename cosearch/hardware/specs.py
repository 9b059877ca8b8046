"""Hardware specifications and optimisation objectives (docs/design.md section 5).

A :class:`Specs` record holds the optional limits a design must meet; an
:data:`Objective` names what the design optimizer maximises. Both are
immutable host values; the optimizer reads them as static configuration.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal, get_args

from cosearch.errors import InputError

Objective = Literal["throughput", "latency", "energy"]
OBJECTIVES: tuple[str, ...] = get_args(Objective)

# Prune reason codes (see :func:`prune_reason_name`).
MEETS, NO_FEASIBLE, FPS, LATENCY, ENERGY, COMBINATION = range(6)
PRUNE_REASONS = (
    "meets specs",
    "no feasible design on this platform and grid",
    "min_fps",
    "max_latency_ms",
    "min_gops_per_w",
    "specs not jointly achievable",
)


def check_objective(objective: str) -> str:
    """Returns ``objective`` if it is one of :data:`OBJECTIVES`, else raises."""
    if objective not in OBJECTIVES:
        raise InputError(
            f"unknown objective {objective!r}; expected one of {', '.join(OBJECTIVES)}"
        )
    return objective


# The cost-model figure each objective optimises, and its sign (+1: larger is
# better, -1: smaller is better). The one source of this map for the
# optimizer, the fast exploration step and the strategies' rewards.
OBJECTIVE_FIGURE: dict[str, tuple[str, int]] = {
    "throughput": ("throughput", 1),
    "latency": ("latency", -1),
    "energy": ("gops_per_w", 1),
}


def objective_score(figures, objective: str):
    """Larger-is-better score of ``figures`` (any object with the cost model's
    figure attributes, or a mapping with those keys) under ``objective``."""
    name, sign = OBJECTIVE_FIGURE[objective]
    value = figures[name] if isinstance(figures, dict) else getattr(figures, name)
    return value if sign > 0 else -value


def meets_limits(feasible, throughput, latency, gops_per_w, limits):
    """Elementwise "meets the specs": feasible, and every limit of
    ``limits = (min images/s, max seconds, min GOPS/W)`` (no-limit values
    0 / inf / 0, see :meth:`Specs.limits`) met. Works on NumPy and JAX arrays
    alike; the one definition the optimizer, the fast exploration step and
    the strategies use."""
    return (
        feasible
        & (throughput >= limits[0])
        & (latency <= limits[1])
        & (gops_per_w >= limits[2])
    )


def prune_reason_name(code: int) -> str:
    """Human-readable name of a prune reason code."""
    return PRUNE_REASONS[int(code)]


@dataclasses.dataclass(frozen=True)
class Specs:
    """Optional hardware specs; ``None`` means no limit.

    Attributes:
      min_fps: minimum throughput, images/s.
      max_latency_ms: maximum latency, ms per image.
      min_gops_per_w: minimum energy efficiency, GOPS/W.
    """

    min_fps: float | None = None
    max_latency_ms: float | None = None
    min_gops_per_w: float | None = None

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"spec {field.name} must be a number, got {value!r}")
            if math.isnan(value) or value < 0:
                raise InputError(
                    f"spec {field.name} must be a non-negative number, got {value!r}"
                )
            if field.name == "max_latency_ms" and value == 0:
                raise InputError("spec max_latency_ms must be positive, got 0")
            if math.isinf(value) and field.name != "max_latency_ms":
                raise InputError(f"spec {field.name} must be finite, got {value!r}")
            object.__setattr__(self, field.name, float(value))

    @property
    def active(self) -> tuple[bool, bool, bool]:
        """Which of (min_fps, max_latency_ms, min_gops_per_w) are set."""
        return (
            self.min_fps is not None,
            self.max_latency_ms is not None,
            self.min_gops_per_w is not None,
        )

    @property
    def any(self) -> bool:
        return any(self.active)

    def limits(self) -> tuple[float, float, float]:
        """(min images/s, max seconds, min GOPS/W) with no-limit values 0/inf/0."""
        return (
            self.min_fps or 0.0,
            math.inf if self.max_latency_ms is None else self.max_latency_ms / 1e3,
            self.min_gops_per_w or 0.0,
        )

    def met_by(self, fps: float, latency_s: float, gops_per_w: float) -> bool:
        """Whether figures (images/s, seconds, GOPS/W) meet every set spec."""
        lo_fps, hi_lat, lo_eff = self.limits()
        return fps >= lo_fps and latency_s <= hi_lat and gops_per_w >= lo_eff
