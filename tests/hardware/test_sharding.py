"""Batch sharding of the fast level (cost model, design optimizer, fast
exploration): same results as one device, mesh choice."""

import json
import textwrap

import jax
import numpy as np
import pytest

from cosearch.hardware.sharding import batch_mesh, pad_batch, padded_mesh
from tests.launch import run_script


def _run_child(code: str, devices: int) -> dict:
    """Runs ``code`` with ``devices`` host devices; its last stdout line (JSON)."""
    out = run_script(code, devices=devices, timeout=300)
    return json.loads(out.strip().splitlines()[-1])


# Runs in a child process: the host device count is fixed when JAX starts.
_CHILD = textwrap.dedent(
    """
    import json
    import jax
    import numpy as np
    from cosearch.hardware.cost_model import evaluate
    from cosearch.hardware.devices import resolve_platform
    from cosearch.hardware.platform_arrays import platform_arrays
    from cosearch.hardware.sharding import batch_mesh, evaluate_sharded
    from benchmarks.bench_fast_loop import compare, random_pairs

    platform = platform_arrays(resolve_platform("mixed4"))
    arch, design = random_pairs(jax.random.key(3), batch=6, depth=10, pool=4)
    one = evaluate(*jax.device_put((arch, design, platform), jax.devices()[0]))
    many = evaluate_sharded(arch, design, platform)
    bits32 = evaluate_sharded(arch, design, platform, bits=32, enforce_bram=False)
    ok32, _ = compare(bits32, many)
    print(json.dumps({
        "devices": jax.device_count(),
        "result_devices": len(many.layer_cycles.sharding.device_set),
        "one_devices": len(one.layer_cycles.sharding.device_set),
        "same": compare(many, one, rtol=0.0)[0],
        "bits32_differs": not ok32,
        "mesh_sizes": {b: batch_mesh(b).size for b in (1, 4, 5, 6, 9)},
        "min_3": {b: batch_mesh(b, min_per_device=3).size for b in (4, 6, 9)},
    }))
    """
)


def test_sharded_equals_one_device_on_three_host_devices():
    out = _run_child(_CHILD, 3)
    assert out["devices"] == 3
    assert out["result_devices"] == 3 and out["one_devices"] == 1
    assert out["same"] is True  # bit-identical, every field
    assert out["bits32_differs"] is True  # the static switches pass through
    # The largest device count <= 3 that divides the batch.
    assert out["mesh_sizes"] == {"1": 1, "4": 2, "5": 1, "6": 3, "9": 3}
    # ... and leaves each device at least min_per_device pairs.
    assert out["min_3"] == {"4": 1, "6": 2, "9": 3}


def test_batch_mesh_in_this_process():
    mesh = batch_mesh(8)
    assert mesh.axis_names == ("batch",)
    assert 8 % mesh.size == 0 and mesh.size <= jax.local_device_count()
    assert batch_mesh(7, jax.local_devices()[:1]).size == 1
    assert batch_mesh(8, min_per_device=8).size == 1


@pytest.mark.parametrize("batch", [0, -3])
def test_batch_mesh_refuses_empty_batches(batch):
    with pytest.raises(ValueError, match="batch must be positive"):
        batch_mesh(batch)


def test_batch_mesh_refuses_bad_min_per_device():
    with pytest.raises(ValueError, match="min_per_device must be positive"):
        batch_mesh(4, min_per_device=0)


def test_batch_mesh_refuses_no_devices():
    with pytest.raises(ValueError, match="no device"):
        batch_mesh(4, [])


# The optimizer and fast exploration on 4 host devices (one child, every check).
_FAST_CHILD = textwrap.dedent(
    """
    import json
    import jax
    import numpy as np
    from cosearch.search.explore import fast_explore
    from cosearch.hardware import optimizer
    from cosearch.hardware.architecture import Architecture, arch_arrays
    from cosearch.hardware.design import (
        Design, Stage, design_arrays, designs_from_arrays)
    from cosearch.hardware.layer_model import Tiling
    from cosearch.hardware.optimizer import design_space, optimize
    from cosearch.hardware.sharding import padded_mesh
    from cosearch.hardware.specs import Specs
    from tests.small_space import ARCHS, INPUT, POOL, SMALL

    EXTRA = ["5,24,1;3,48,2", "1,36,1;7,64,1;3,24,2", "3,64,1",
             "5,48,2;5,36,1;1,64,1", "7,24,1;3,36,1"]
    archs = ARCHS + [Architecture.parse(t) for t in EXTRA]  # 8 distinct
    space = design_space(POOL, SMALL)
    devices = jax.devices()
    specs = Specs(min_fps=3000.0)  # some of the 8 cannot reach it

    def same(a, b):
        a, b = jax.device_get(a), jax.device_get(b)
        if jax.tree.structure(a) != jax.tree.structure(b):
            return "structure"
        paths = jax.tree_util.tree_flatten_with_path(a)[0]
        for (path, x), y in zip(paths, jax.tree.leaves(b)):
            x, y = np.asarray(x), np.asarray(y)
            if x.dtype != y.dtype or not np.array_equal(x, y, equal_nan=True):
                return jax.tree_util.keystr(path)
        return "same"

    out, pruned = {}, {}
    # B = 8 divides the 4 devices; B = 6 is padded to 8 and cut back.
    for batch, objective in [(8, "throughput"), (6, "latency")]:
        arr = arch_arrays(archs[:batch], INPUT, max_layers=3)
        one = optimize(arr, space, objective, specs)
        many = optimize(arr, space, objective, specs, devices=devices)
        name = f"{objective}_{batch}"
        out[name] = same(many, one)
        out[name + "_devices"] = len(many.throughput.sharding.device_set)
        pruned[name] = int(np.sum(jax.device_get(one.pruned)))
    # Compiled once per padded shape: a second B = 6 call reuses the program.
    key = (space, "latency", specs.active, optimizer.ENERGY_STEPS,
           optimizer.CHUNK, tuple(devices))
    before = optimizer._sharded_program(*key)._cache_size()
    optimize(arr, space, "latency", specs, devices=devices)
    out["recompiled"] = optimizer._sharded_program(*key)._cache_size() - before

    # Fast exploration, B = 6 (cost model on batch_mesh(6) = 3 devices):
    # samples = the optimum's partition with bigger off-grid tilings (faster,
    # kept where they meet the spec) on even rows, the optimum on odd rows.
    big = {0: Tiling(12, 8, 8, 8, 7, 4, 2, 2), 1: Tiling(24, 8, 8, 8, 7, 8, 4, 4)}
    big[2] = big[1]
    designs = [
        d if i % 2 else Design(tuple(
            Stage(s.first, s.last, s.device, big[s.device]) for s in d.stages))
        for i, d in enumerate(designs_from_arrays(jax.device_get(one.design)))
    ]
    sampled = design_arrays(designs, [a.depth for a in archs[:6]], POOL.size)
    res_one = fast_explore(arr, sampled, space, specs, "latency")
    res_many = fast_explore(arr, sampled, space, specs, "latency", devices=devices)
    out["explore"] = same(res_many, res_one)
    out["explore_devices"] = len(res_many.figures.throughput.sharding.device_set)
    out["explore_kept"] = int(np.sum(jax.device_get(res_one.kept_sampled)))
    out["explore_pruned"] = int(np.sum(jax.device_get(res_one.pruned)))
    out["pruned"] = pruned
    out["padded"] = {b: [padded_mesh(b)[0].size, padded_mesh(b)[1]]
                     for b in (1, 3, 6, 8)}
    print(json.dumps(out))
    """
)


def test_optimizer_and_fast_explore_sharded_equal_one_device():
    out = _run_child(_FAST_CHILD, 4)
    # Bit-identical on every field (else the path of the first field differing).
    for name in ("throughput_8", "latency_6", "explore"):
        assert out[name] == "same", (name, out[name])
    # Every device ran, also for B = 6 (padded to 8, cut back).
    assert out["throughput_8_devices"] == out["latency_6_devices"] == 4
    assert out["recompiled"] == 0
    # Scoring 6 pairs is not split (SCORE_MIN_PER_DEVICE): one device.
    assert out["explore_devices"] == 1
    # Not vacuous: the spec prunes some, some samples are kept.
    assert 0 < out["pruned"]["throughput_8"] < 8
    assert 0 < out["pruned"]["latency_6"] < 6
    assert 0 < out["explore_kept"] < 6 and 0 < out["explore_pruned"] < 6
    # min(B, 4) devices, B padded to a multiple of that.
    assert out["padded"] == {"1": [1, 1], "3": [3, 3], "6": [4, 8], "8": [4, 8]}


def test_padded_mesh_in_this_process():
    one = jax.local_devices()[:1]
    mesh, padded = padded_mesh(7, one)
    assert mesh.axis_names == ("batch",) and mesh.size == 1 and padded == 7
    mesh, padded = padded_mesh(5)
    assert mesh.size == min(5, jax.local_device_count())
    assert padded % mesh.size == 0 and 0 <= padded - 5 < mesh.size
    with pytest.raises(ValueError, match="batch must be positive"):
        padded_mesh(0)
    with pytest.raises(ValueError, match="no device"):
        padded_mesh(4, [])


def test_pad_batch_repeats_the_last_row():
    tree = {"a": np.arange(6).reshape(3, 2), "b": np.array([True, False, True])}
    out = pad_batch(tree, 5)
    np.testing.assert_array_equal(out["a"], [[0, 1], [2, 3], [4, 5], [4, 5], [4, 5]])
    np.testing.assert_array_equal(out["b"], [True, False, True, True, True])
    assert pad_batch(tree, 3)["a"] is tree["a"]
    with pytest.raises(ValueError, match="cannot pad"):
        pad_batch(tree, 2)
