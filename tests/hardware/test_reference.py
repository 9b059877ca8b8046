"""Batched cost model == NumPy version == scalar reference on random pairs.

2048 random pairs of the benchmark's space on ``mixed4`` (the same shapes as
test_cost_model.py, so the compiled program is shared): a quarter of them cut
down to 6 layers (padded to 10 with the mask), some corrupted into invalid
designs (a reused FPGA, a stage end past the last layer, an empty stage).
"""

import jax
import numpy as np
import pytest

from benchmarks.bench_fast_loop import (
    compare,
    compare_reference,
    random_pairs,
    reference_results,
)
from cosearch.hardware.cost_model import evaluate
from cosearch.hardware.devices import resolve_platform
from cosearch.hardware.platform_arrays import platform_arrays
from oracles.cost_numpy import evaluate_numpy

B, L, S = 2048, 10, 4


@pytest.fixture(scope="module")
def pairs():
    arch, design = random_pairs(jax.random.key(42), batch=B, depth=L, pool=S)
    rows = np.arange(B)
    # Variable depth: every 4th architecture keeps 6 layers; its stages are
    # squeezed into those (ends clipped, a stage made empty becomes invalid).
    short = rows % 4 == 1
    arch.mask[short, 6:] = False
    design.stage_end[short] = np.minimum(design.stage_end[short], 6)
    # Invalid designs: a reused FPGA, an end past the last layer.
    reuse = (rows % 13 == 5) & (design.num_stages >= 2)
    design.device[reuse, 1] = design.device[reuse, 0]
    past = rows % 17 == 3
    design.stage_end[past, 0] = L + 1
    return arch, design


def test_batched_equals_reference_and_numpy(pairs):
    arch, design = pairs
    platform = resolve_platform("mixed4")
    result = evaluate(arch, design, platform_arrays(platform))
    refs = reference_results(arch, design, platform)
    valid = np.array([r.valid for r in refs])
    feasible = np.array([r.feasible for r in refs])
    # The batch must exercise every branch: valid, invalid, feasible, not.
    assert 0.5 < valid.mean() < 1 and 0.2 < feasible.mean() < valid.mean()
    ok, why = compare_reference(result, refs, rtol=1e-5)
    assert ok, why
    np.testing.assert_array_equal(np.asarray(result.feasible), feasible)
    ok, why = compare(
        result, evaluate_numpy(arch, design, platform_arrays(platform, xp=np))
    )
    assert ok, why


def test_compare_detects_a_difference(pairs):
    arch, design = pairs
    platform = resolve_platform("mixed4")
    result = evaluate(arch, design, platform_arrays(platform))
    refs = reference_results(
        jax.tree.map(lambda v: v[:50], arch),
        jax.tree.map(lambda v: v[:50], design),
        platform,
    )
    head = jax.tree.map(lambda v: np.asarray(v)[:50], result)
    bumped = head.replace(throughput=head.throughput * (1 + 1e-4))
    assert compare_reference(head, refs)[0]
    assert not compare_reference(bumped, refs)[0]
    assert not compare(head, bumped)[0]


def test_agree_at_imagenet_scale(pairs):
    """The same designs on 224 x 224 inputs of 64 channels with 128 to 512
    filters per layer: MACs and cycle counts far past 2**31 (a ten-layer
    network of these has ~1e11 MACs) still agree with the scalar reference
    (Python integers) and the NumPy peer to float32 rounding."""
    arch, design = jax.tree.map(np.copy, pairs)
    arch.input_hwc[:] = (224, 224, 64)
    arch.filters[:] = np.where(np.arange(B)[:, None] % 2, 512, 128)
    platform = resolve_platform("mixed4")
    result = evaluate(arch, design, platform_arrays(platform))
    macs = np.asarray(result.macs)
    assert macs.max() > 2**35 and (macs > 0).all()
    head = jax.tree.map(lambda v: np.asarray(v)[:256], result)
    refs = reference_results(
        jax.tree.map(lambda v: v[:256], arch),
        jax.tree.map(lambda v: v[:256], design),
        platform,
    )
    ok, why = compare_reference(head, refs, rtol=1e-5)
    assert ok, why
    assert any(r.feasible for r in refs)
    ok, why = compare(
        result, evaluate_numpy(arch, design, platform_arrays(platform, xp=np))
    )
    assert ok, why
