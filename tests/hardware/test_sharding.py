"""Batch sharding of the cost model: same figures as one device, mesh choice."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import pytest

from cosearch.hardware.sharding import batch_mesh

# Runs in a child process: the host device count is fixed when JAX starts.
_CHILD = textwrap.dedent(
    """
    import json
    import jax
    import numpy as np
    from cosearch.hardware.cost_model import evaluate
    from cosearch.hardware.devices import platform_arrays, resolve_platform
    from cosearch.hardware.sharding import batch_mesh, evaluate_sharded
    from experiments.bench_fast_loop import compare, random_pairs

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
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=3")
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
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
