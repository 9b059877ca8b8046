"""The hardware a strategy fixes before its search, made and checked at
setup time (hw_aware's design; docs/design.md section 6).

The design comes from a JSON file (``config.search.hw_aware_design``) or is
the optimum of a reference network (``config.search.hw_aware_reference``, or
:func:`default_reference`); either way it is refused, in one line naming
the field, when it cannot run every child of the space.
"""

from __future__ import annotations

import dataclasses
import json

import jax.numpy as jnp

from cosearch.hardware.architecture import Architecture, arch_arrays
from cosearch.hardware.design import Design, design_arrays, designs_from_arrays
from cosearch.hardware.optimizer import optimize
from cosearch.results.records import design_from_record, host
from cosearch.search.config_checks import SearchConfigError
from cosearch.search.episode import score_designs
from cosearch.search.reachability import can_meet_specs
from cosearch.search.settings import Setup


def check_fixed_design(setup: Setup, design: Design, path: str) -> None:
    """Refuse a fixed design that cannot run every child of the space.

    An accelerator's resources depend only on its tiling, so the design is
    scored with the heaviest architecture of the space (largest kernel and
    filters everywhere, stride 1): feasible for it means feasible for all.
    """
    a = setup.space.arch
    heavy = Architecture(
        tuple((max(a.kernels), max(a.filters), min(a.strides)) for _ in range(a.depth))
    )
    des = design_arrays([design], a.depth, setup.platform.size, xp=jnp)
    fig = score_designs(setup, arch_arrays([heavy], setup.input_shape, xp=jnp), des)
    if bool(fig.feasible[0]):
        return
    problems = []
    for i, st in enumerate(design.stages):
        dev = setup.platform.devices[st.device]
        if bool(fig.stage_feasible[0, i]):
            continue
        parts = []
        if int(fig.stage_dsp[0, i]) > dev.dsp:
            parts.append(f"{int(fig.stage_dsp[0, i])} DSP > {dev.dsp}")
        if setup.enforce_bram:
            for field, have, what in (
                ("stage_bram18", dev.bram18, "BRAM18"),
                ("stage_lutram", dev.lutram, "LUTRAM LUTs"),
                ("stage_ffs", dev.ffs, "flip-flops"),
            ):
                used = int(getattr(fig, field)[0, i])
                if used > have:
                    parts.append(f"{used} {what} > {have}")
        if int(fig.stage_port_bits[0, i]) > dev.port_bits:
            parts.append(
                f"{int(fig.stage_port_bits[0, i])} port bits > {dev.port_bits}"
            )
        if st.tiling.tk < max(a.kernels):
            parts.append(
                f"Tk {st.tiling.tk} < the space's largest kernel {max(a.kernels)}"
            )
        problems.append(
            f"stage {i} on {dev.name}: " + (", ".join(parts) or "infeasible")
        )
    raise SearchConfigError(
        f"config.search.hw_aware_design: {path} is not feasible on "
        f"{setup.platform.name}: " + "; ".join(problems)
    )


def default_reference(setup: Setup) -> Architecture:
    """hw_aware's reference network when none is configured: the largest
    (most MACs) *uniform* network of the space, one kernel size and filter
    count in every layer, whose best design meets the specs; the
    accelerator is built for the heaviest typical network that the spec
    allows, as a designer who fixes the hardware first would. Without specs,
    the largest uniform network.
    """
    a = setup.space.arch
    stride = min(a.strides)
    refs = [
        Architecture(tuple((k, f, stride) for _ in range(a.depth)))
        for k in a.kernels
        for f in a.filters
    ]
    ok = can_meet_specs(setup, refs)
    pool = [r for r, good in zip(refs, ok, strict=True) if good] or refs[:1]
    return max(pool, key=lambda r: r.macs(setup.input_shape))


def _reference(setup: Setup) -> Architecture:
    """``config.search.hw_aware_reference``, checked against the space."""
    depth = setup.space.arch.depth
    try:
        ref = Architecture.parse(setup.hw_aware.reference)
    except ValueError as e:
        raise SearchConfigError(f"config.search.hw_aware_reference: {e}") from None
    if ref.depth != depth:
        raise SearchConfigError(
            f"config.search.hw_aware_reference has {ref.depth} layers but the "
            f"space has depth {depth}"
        )
    a = setup.space.arch
    outside = [
        f"layer {i} {k},{f},{st}"
        for i, (k, f, st) in enumerate(ref.layers)
        if k not in a.kernels or f not in a.filters or st not in a.strides
    ]
    if outside:
        raise SearchConfigError(
            "config.search.hw_aware_reference must lie in the search space "
            f"(kernels {a.kernels}, filters {a.filters}, strides {a.strides}); "
            f"not: {', '.join(outside)}"
        )
    return ref


def _design_file(setup: Setup) -> Design:
    """``config.search.hw_aware_design``, read and checked."""
    path = setup.hw_aware.design
    try:
        with open(path) as f:
            design = design_from_record({"design": json.load(f)})
        design.validate(setup.space.arch.depth, setup.platform.size)
    except FileNotFoundError:
        raise SearchConfigError(
            f"config.search.hw_aware_design: file not found: {path}"
        ) from None
    except OSError as e:
        raise SearchConfigError(
            f"config.search.hw_aware_design: {path}: cannot read ({e})"
        ) from None
    except (ValueError, KeyError, TypeError) as e:
        raise SearchConfigError(f"config.search.hw_aware_design: {path}: {e}") from None
    check_fixed_design(setup, design, path)
    return design


def fixed_design(setup: Setup) -> Design:
    """The hw_aware design: from a JSON file, or the best for a reference net.

    The reference network is ``config.search.hw_aware_reference`` (``""``:
    :func:`default_reference`). Its optimum (objective and specs of the run)
    is taken, and each stage's Tk is raised to the largest kernel of the
    space, since the fixed accelerator must run every architecture the
    controller may sample.
    """
    s = setup
    if s.hw_aware.design:
        return _design_file(s)
    ref = _reference(s) if s.hw_aware.reference else default_reference(s)
    opt = optimize(
        arch_arrays([ref], s.input_shape, xp=jnp), s.design_space, s.objective, s.specs
    )
    design = designs_from_arrays(host(opt.design))[0]
    if not design.stages:
        raise SearchConfigError(
            f"hw_aware: no feasible design exists for the reference network {ref}"
        )
    k_max = max(s.space.arch.kernels)
    return Design(
        tuple(
            dataclasses.replace(st, tiling=dataclasses.replace(st.tiling, tk=k_max))
            for st in design.stages
        )
    )
