"""Specs no architecture of the space can meet, found before anything trains.

The fast level's verdict per architecture (:func:`can_meet_specs`), and the
check of a whole space (:func:`check_specs_reachable`): layer cycles never
decrease with kernel or channel count and never increase with stride
(docs/design.md section 4), so the optimum of :func:`lightest_architecture`
bounds throughput and latency over the space; energy efficiency, not
monotone, is probed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from cosearch.hardware import optimizer as optimizer_lib
from cosearch.hardware.architecture import Architecture, arch_arrays
from cosearch.hardware.specs import Specs
from cosearch.policy import masks
from cosearch.policy.value_sets import ArchSpace
from cosearch.search.config_checks import field_error
from cosearch.search.settings import Setup


def can_meet_specs(setup: Setup, archs) -> np.ndarray:
    """``[B]`` bool: some design of the space makes the architecture meet the
    specs (the fast level's verdict, without training)."""
    opt = optimizer_lib.optimize(
        arch_arrays(archs, setup.input_shape, xp=jnp),
        setup.design_space,
        setup.objective,
        setup.specs,
    )
    return ~np.asarray(opt.pruned)


def lightest_architecture(space: ArchSpace) -> Architecture:
    """The architecture with the fewest cycles on any accelerator.

    Layer cycles never decrease with kernel size or channel counts, and
    never increase with stride (docs/design.md section 4), so the smallest kernel,
    fewest filters and largest stride everywhere bounds throughput from
    above and latency from below over the whole space.
    """
    k, f, s = min(space.kernels), min(space.filters), max(space.strides)
    return Architecture(tuple((k, f, s) for _ in range(space.depth)))


def check_specs_reachable(setup: Setup) -> None:
    """Refuse specs no architecture of the space could meet, before training.

    Throughput and latency: the optimum of :func:`lightest_architecture` is
    an upper (lower) bound over the whole space. Energy efficiency is not
    monotone in the architecture, so it is probed: the lightest and the
    heaviest architectures and 254 random ones (fixed seed); the run is
    refused only when none of them reaches the spec with any design.

    Raises:
      SearchConfigError: naming the spec and the best value reachable.
    """
    sp = setup.specs
    if not sp.any:
        return
    arch_space = setup.full_space.arch
    light = lightest_architecture(arch_space)
    probes = [light]
    if sp.min_gops_per_w is not None:
        heavy = Architecture(
            tuple(
                (max(arch_space.kernels), max(arch_space.filters), 1)
                for _ in range(arch_space.depth)
            )
        )
        arch_only = setup.full_space.architecture_only()
        tokens = masks.uniform_sample(arch_only, jax.random.key(setup.seed), 254)
        probes += [heavy] + [a for a, _ in arch_only.decode_batch(tokens)]
    arrays = arch_arrays(probes, setup.input_shape, xp=jnp)
    needed = {
        "throughput": sp.min_fps is not None,
        "latency": sp.max_latency_ms is not None,
        "energy": sp.min_gops_per_w is not None,
    }
    best = {
        objective: optimizer_lib.optimize(
            arrays, setup.design_space, objective=objective, specs=Specs()
        )
        for objective, need in needed.items()
        if need
    }
    if "throughput" in best:
        fps = float(np.asarray(best["throughput"].throughput)[0])
    if "latency" in best:
        lat_ms = 1e3 * float(np.asarray(best["latency"].latency)[0])
    if "energy" in best:
        eff = float(np.nanmax(np.asarray(best["energy"].gops_per_w)))
    if sp.min_fps is not None and fps < sp.min_fps:
        raise field_error(
            "specs.min_fps",
            f"{sp.min_fps:g} images/s is out of reach on {setup.platform.name}: the "
            f"fastest architecture of the space reaches {fps:,.1f} images/s at best",
        )
    if sp.max_latency_ms is not None and lat_ms > sp.max_latency_ms:
        raise field_error(
            "specs.max_latency_ms",
            f"{sp.max_latency_ms:g} ms is out of reach on {setup.platform.name}: the "
            f"lightest architecture of the space needs {lat_ms:.4f} ms at best",
        )
    if sp.min_gops_per_w is not None and eff < sp.min_gops_per_w:
        raise field_error(
            "specs.min_gops_per_w",
            f"{sp.min_gops_per_w:g} GOPS/W is out of reach on {setup.platform.name}: "
            f"the best of {len(probes)} probed architectures reaches {eff:.2f} GOPS/W",
        )
