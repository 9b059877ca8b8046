"""hw_aware's fixed accelerator: sized so that it runs every child of the
space (cosearch/search/fixed_design.py)."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from cosearch.hardware.architecture import Architecture, arch_arrays
from cosearch.hardware.design import design_arrays
from cosearch.results.records import host
from cosearch.search import setup as search_setup
from cosearch.search.config_checks import SearchConfigError
from cosearch.search.episode import meets_specs, score_designs
from cosearch.search.fixed_design import (
    check_fixed_design,
    default_reference,
    every_kernel,
    fixed_design,
    sized_designs,
)
from experiments.configs import default
from tests.tiny_search import tiny


def _figures(setup, archs, design):
    a = setup.space.arch
    return host(
        score_designs(
            setup,
            arch_arrays(archs, setup.input_shape, xp=jnp),
            design_arrays([design] * len(archs), a.depth, setup.platform.size, xp=jnp),
        )
    )


def _draw(setup, count, seed=0):
    a, rng = setup.space.arch, np.random.default_rng(seed)
    return [
        Architecture(
            tuple(
                (int(rng.choice(a.kernels)), int(rng.choice(a.filters)), 1)
                for _ in range(a.depth)
            )
        )
        for _ in range(count)
    ]


@pytest.fixture(scope="module")
def default_setup():
    config = default.get_config()
    config.strategy = "hw_aware"
    return search_setup.build(config)


def test_the_default_design_runs_every_child_and_its_reference_meets_the_spec(
    default_setup,
):
    # On the default space (mixed4, 1,000 images/s) the reference's own
    # optimum with Tk raised to 7 needs 2,528 BRAM18 on the XCZU9EG (1,824):
    # no child was feasible on it. Sized for the largest kernel, every one is.
    s = default_setup
    ref, design = default_reference(s)
    assert len({k for k, _, _ in ref.layers}) == 1  # uniform
    assert all(st.tiling.tk == max(s.space.arch.kernels) for st in design.stages)
    assert fixed_design(s) == design
    check_fixed_design(s, design, "the default")  # raises if any child cannot run
    fig = _figures(s, _draw(s, 64), design)
    assert fig.feasible.all()
    assert meets_specs(s, _figures(s, [ref], design))[0]
    # Some drawn children meet the spec on it: hw_aware's search has a target.
    assert meets_specs(s, fig).any()


def test_a_larger_uniform_network_does_not_meet_the_spec_on_its_own_design(
    default_setup,
):
    # The reference is the largest (most MACs) uniform network that meets the
    # spec on the accelerator sized for it: the next larger ones do not.
    s = default_setup
    ref, _ = default_reference(s)
    a = s.space.arch
    larger = [
        Architecture(tuple((k, f, 1) for _ in range(a.depth)))
        for k in a.kernels
        for f in a.filters
    ]
    larger = [r for r in larger if r.macs(s.input_shape) > ref.macs(s.input_shape)]
    assert larger
    for r, d in zip(larger, sized_designs(s, larger), strict=True):
        assert not meets_specs(s, _figures(s, [r], d))[0], r


def test_a_configured_reference_is_sized_for_the_largest_kernel():
    config = tiny(strategy="hw_aware")
    config.search.hw_aware_reference = "3,24,1;1,36,1"
    s = search_setup.build(config)
    k_max = max(s.space.arch.kernels)
    ref = Architecture.parse("3,24,1;1,36,1")
    assert every_kernel(s, ref) == Architecture(((k_max, 24, 1), (k_max, 36, 1)))
    design = fixed_design(s)
    assert design == sized_designs(s, [ref])[0]
    assert all(st.tiling.tk == k_max for st in design.stages)


def test_a_design_that_cannot_run_every_child_is_named_in_the_error(default_setup):
    s = default_setup
    _, design = default_reference(s)
    last = design.stages[-1]
    short = dataclasses.replace(last, tiling=dataclasses.replace(last.tiling, tk=3))
    broken = dataclasses.replace(design, stages=(*design.stages[:-1], short))
    with pytest.raises(
        SearchConfigError,
        match=r"^the test's design is not feasible on mixed4: .*Tk 3 < the "
        r"space's largest kernel 7",
    ):
        check_fixed_design(s, broken, "the test's design")
