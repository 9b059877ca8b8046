"""The fast exploration step: sampled vs optimum, refined designs, pruning."""

import jax
import numpy as np
import pytest

from cosearch.hardware.architecture import arch_arrays
from cosearch.hardware.design import Design, Stage, design_arrays, designs_from_arrays
from cosearch.hardware.layer_model import Tiling
from cosearch.hardware.optimizer import design_space, optimize
from cosearch.hardware.specs import FPS, MEETS, Specs
from cosearch.search.explore import fast_explore
from tests.small_space import ARCHS, INPUT, POOL, SMALL


@pytest.fixture(scope="module")
def setup():
    space = design_space(POOL, SMALL)
    arrays = arch_arrays(ARCHS, INPUT, max_layers=3)
    return space, arrays


def _sampled(tilings):
    """One-stage designs on slot 1 with the given tilings (off-grid allowed)."""
    designs = [
        Design((Stage(0, a.depth - 1, 1, t),))
        for a, t in zip(ARCHS, tilings, strict=True)
    ]
    return design_arrays(designs, [a.depth for a in ARCHS], POOL.size)


def test_refined_is_the_optimum_unless_the_sample_is_better(setup):
    space, arrays = setup
    opt = jax.device_get(optimize(arrays, space))
    # A slow off-grid sample for arch 0; the optimum of arch 1 itself, with a
    # bigger (more power) tiling; an infeasible sample (too many DSP) for 2.
    weak = Tiling(2, 2, 4, 4, 7, 1, 1, 1)
    huge = Tiling(64, 64, 16, 16, 7, 4, 4, 4)
    sampled = _sampled([weak, weak, huge])
    res = jax.device_get(fast_explore(arrays, sampled, space))
    assert not res.kept_sampled.any()
    np.testing.assert_allclose(res.figures.throughput, opt.throughput, rtol=1e-6)
    assert res.sampled_figures.throughput[0] < res.figures.throughput[0]
    assert not res.sampled_figures.feasible[2]
    assert res.meets_specs.all() and not res.pruned.any()
    assert (res.prune_reason == MEETS).all()
    # The throughput of the optimum is never below a sampled design's.
    fine = res.sampled_figures.feasible
    assert (res.figures.throughput[fine] >= res.sampled_figures.throughput[fine]).all()
    assert res.designs_declared[0] == space.designs_covered(3)
    assert res.designs_scanned[2] == space.designs_covered(2, kept=True)
    assert [d.num_stages for d in res.designs()] == list(opt.design.num_stages)


def test_sample_outside_the_grid_that_beats_the_optimum_is_kept(setup):
    space, arrays = setup
    opt = jax.device_get(optimize(arrays, space))
    # The optimum's own partition and allocation with off-grid tilings that
    # use more of each device (24 x 8 MACs > the grid's 16 x 8).
    big = {0: Tiling(12, 8, 8, 8, 7, 4, 2, 2), 1: Tiling(24, 8, 8, 8, 7, 8, 4, 4)}
    big[2] = big[1]
    designs = [
        Design(tuple(Stage(s.first, s.last, s.device, big[s.device]) for s in d.stages))
        for d in designs_from_arrays(opt.design)
    ]
    sampled = design_arrays(designs, [a.depth for a in ARCHS], POOL.size)
    res = jax.device_get(fast_explore(arrays, sampled, space))
    better = res.sampled_figures.feasible & (
        res.sampled_figures.throughput > opt.throughput * (1 + 1e-5)
    )
    assert better.any()
    np.testing.assert_array_equal(res.kept_sampled, better)
    kept = np.flatnonzero(better)
    np.testing.assert_array_equal(res.refined.tiling[kept], sampled.tiling[kept])
    np.testing.assert_allclose(
        res.figures.throughput[kept], res.sampled_figures.throughput[kept]
    )


def test_pruned_when_no_design_meets_the_specs(setup):
    space, arrays = setup
    opt = jax.device_get(optimize(arrays, space, "latency"))
    specs = Specs(min_fps=float(opt.best_fps.max()) * 3)
    sampled = _sampled([Tiling(2, 2, 4, 4, 7, 1, 1, 1)] * 3)
    res = jax.device_get(fast_explore(arrays, sampled, space, specs, "latency"))
    assert res.pruned.all() and not res.meets_specs.any()
    assert (res.prune_reason == FPS).all()
    assert (res.best_fps < specs.min_fps).all()


def test_wrong_number_of_stage_slots_is_refused(setup):
    space, arrays = setup
    designs = [Design((Stage(0, a.depth - 1, 0, Tiling(*[1] * 8)),)) for a in ARCHS]
    bad = design_arrays(designs, [a.depth for a in ARCHS], 2)
    with pytest.raises(ValueError, match="stage slots"):
        fast_explore(arrays, bad, space)
