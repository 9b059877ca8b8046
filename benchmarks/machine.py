"""What the CPU benchmarks share about timing on this machine: the pause
between frameworks, timed rounds, and the float32 matmul peak the measured
FLOP/s are set against."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments import common

# Idle seconds before each timed round: each framework's worker threads spin
# for a while after its last op; the pause lets them go idle so that they do
# not steal the cores from the other framework's timed round.
PAUSE_S = 0.3
PEAK_N, PEAK_REPEATS = 2048, 5  # the float32 matmul of the peak, best of


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    """Seconds of ``n`` calls of ``fn``, after a pause and one untimed call
    (which wakes this framework's threads); ``fn`` must block."""
    time.sleep(PAUSE_S)
    fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def matmul_peak(n: int, repeats: int, use_torch: bool) -> dict[str, Any]:
    """float32 FLOP/s (2 n^3 / best seconds) of an ``n x n @ n x n`` matmul in
    NumPy, JAX and torch; ``flops_per_s`` is the best of them."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    matmul = jax.jit(jnp.matmul)
    fns = {"numpy": lambda: a @ b, "jax": lambda: matmul(ja, jb).block_until_ready()}
    if use_torch:
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        fns["torch"] = lambda: ta @ tb
    out: dict[str, Any] = {"n": n, "repeats": repeats}
    for name, fn in fns.items():
        time.sleep(PAUSE_S)
        fn()  # warm-up (and JAX's compile)
        best = min(common.time_runs(fn, repeats)[1])
        out[f"{name}_flops_per_s"] = 2.0 * n**3 / best
    out["flops_per_s"] = max(out[f"{name}_flops_per_s"] for name in fns)
    return out
