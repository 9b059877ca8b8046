"""The hardware a strategy fixes before its search, made and checked at
setup time (hw_aware's design; docs/design.md section 6).

The design comes from a JSON file (``config.search.hw_aware_design``) or is
sized for a reference network (``config.search.hw_aware_reference``, or
:func:`default_reference`): the optimum of the reference with every kernel
the space's largest. Either way it is refused, in one line naming it, when
it cannot run every child of the space.
"""

from __future__ import annotations

import json

import jax.numpy as jnp

from cosearch.hardware.architecture import Architecture, arch_arrays
from cosearch.hardware.design import Design, design_arrays, designs_from_arrays
from cosearch.hardware.optimizer import optimize
from cosearch.results.records import design_from_record, host
from cosearch.search.config_checks import SearchConfigError
from cosearch.search.episode import meets_specs, score_designs
from cosearch.search.settings import Setup


def check_fixed_design(setup: Setup, design: Design, what: str) -> None:
    """Refuse a fixed design that cannot run every child of the space
    (``what`` names it in the error: the config field and file, or the
    reference it was sized for).

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
            for field, have, resource in (
                ("stage_bram18", dev.bram18, "BRAM18"),
                ("stage_lutram", dev.lutram, "LUTRAM LUTs"),
                ("stage_ffs", dev.ffs, "flip-flops"),
            ):
                used = int(getattr(fig, field)[0, i])
                if used > have:
                    parts.append(f"{used} {resource} > {have}")
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
        f"{what} is not feasible on {setup.platform.name}: " + "; ".join(problems)
    )


def every_kernel(setup: Setup, arch: Architecture) -> Architecture:
    """``arch`` with every kernel the space's largest: the network a fixed
    accelerator is sized by, so that its buffers (Tk) hold any child's
    weights. Compute scales alike in every layer of a uniform network, so
    there its stages balance as the network's own do (not so for a
    reference of mixed kernels)."""
    k_max = max(setup.space.arch.kernels)
    return Architecture(tuple((k_max, f, st) for _, f, st in arch.layers))


def sized_designs(setup: Setup, refs: list[Architecture]) -> list[Design]:
    """The accelerator a designer fixes for each reference network: the
    optimum (objective and specs of the run; the best feasible design where
    none meets them) of :func:`every_kernel` of it, so that it runs every
    child of the space.

    Raises:
      SearchConfigError: a reference has no feasible design at all.
    """
    wide = [every_kernel(setup, r) for r in refs]
    opt = optimize(
        arch_arrays(wide, setup.input_shape, xp=jnp),
        setup.design_space,
        setup.objective,
        setup.specs,
    )
    designs = designs_from_arrays(host(opt.design))
    for ref, design in zip(refs, designs, strict=True):
        if not design.stages:
            raise SearchConfigError(
                f"hw_aware: no feasible design exists for the reference network "
                f"{ref} sized for the space's largest kernel"
            )
    return designs


def default_reference(setup: Setup) -> tuple[Architecture, Design]:
    """hw_aware's reference network when none is configured, and its fixed
    design: the largest (most MACs) *uniform* network of the space, one
    kernel size and filter count in every layer, that meets the specs on
    the accelerator sized for it (:func:`sized_designs`); the accelerator is
    built for the heaviest typical network that the spec allows, as a
    designer who fixes the hardware first would. Without specs, the largest
    uniform network; where none meets them, the lightest.
    """
    a = setup.space.arch
    stride = min(a.strides)

    def uniform(k: int, f: int) -> Architecture:
        return Architecture(tuple((k, f, stride) for _ in range(a.depth)))

    refs = [uniform(k, f) for k in a.kernels for f in a.filters]
    # The sized design depends on the filters alone (every kernel the largest).
    sized = sized_designs(setup, [uniform(a.kernels[0], f) for f in a.filters])
    by_filters = dict(zip(a.filters, sized, strict=True))
    designs = [by_filters[r.layers[0][1]] for r in refs]
    fig = score_designs(
        setup,
        arch_arrays(refs, setup.input_shape, xp=jnp),
        design_arrays(designs, a.depth, setup.platform.size, xp=jnp),
    )
    ok = meets_specs(setup, host(fig))
    macs = [r.macs(setup.input_shape) for r in refs]
    pool = [i for i in range(len(refs)) if ok[i]]
    # None meets them: the lightest, the nearest to the specs.
    best = (
        max(pool, key=macs.__getitem__)
        if pool
        else min(range(len(refs)), key=macs.__getitem__)
    )
    return refs[best], designs[best]


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
    check_fixed_design(setup, design, f"config.search.hw_aware_design: {path}")
    return design


def fixed_design(setup: Setup) -> Design:
    """The hw_aware design: from a JSON file, or sized for a reference net.

    The reference network is ``config.search.hw_aware_reference`` (``""``:
    :func:`default_reference`); the design is :func:`sized_designs`' for it:
    the optimum of the reference with every kernel the space's largest, so
    that the fixed accelerator's buffers hold the weights of every
    architecture the controller may sample (raising Tk on the reference's
    own optimum instead can overflow the FPGA's BRAM, and then no child is
    feasible). Checked like a design file.
    """
    s = setup
    if s.hw_aware.design:
        return _design_file(s)
    if s.hw_aware.reference:
        ref = _reference(s)
        (design,) = sized_designs(s, [ref])
        what = f"config.search.hw_aware_reference: the design sized for {ref}"
    else:
        ref, design = default_reference(s)
        what = f"hw_aware's default design (sized for {ref})"
    check_fixed_design(s, design, what)
    return design
