r"""Benchmark: architectures fully optimised per second by the fast level.

    python -m benchmarks.bench_fast_explore --out=/tmp/bench.json
    python -m benchmarks.bench_fast_explore --smoke --out=/tmp/smoke.json

Batches of random architectures (``--layers`` conv layers, kernels in
{1, 3, 5, 7}, filters in {24, 36, 48, 64}, stride 1) on ``--platform`` with
the default grid. Times :func:`cosearch.hardware.optimizer.optimize` (the
exact optimum over the whole declared design space of every architecture)
and the full :func:`cosearch.search.explore.fast_explore` step; compile time apart,
median of warm runs. The peer is the batched cost model scoring single
designs (``cost_model.evaluate``), measured in the same run: designs covered
per second by the optimizer / designs scored per second by the evaluator.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from absl import flags

from cosearch.hardware import cost_model
from cosearch.hardware.architecture import ArchArrays
from cosearch.hardware.design_space import design_space
from cosearch.hardware.devices import resolve_platform
from cosearch.hardware.optimizer import optimize
from cosearch.hardware.platform_arrays import platform_arrays
from cosearch.hardware.specs import OBJECTIVES
from cosearch.search.explore import fast_explore
from experiments.common import (
    UsageError,
    environment,
    run,
    time_runs,
    write_benchmark,
)

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch", 256, "Architectures per batch.")
flags.DEFINE_integer("layers", 10, "Conv layers per architecture.")
flags.DEFINE_string("platform", "mixed4", "Platform preset or JSON file.")
flags.DEFINE_enum("objective", "throughput", list(OBJECTIVES), "What to optimise.")
flags.DEFINE_integer("repeats", 5, "Warm runs timed (median reported).")
flags.DEFINE_integer("seed", 0, "Seed of the random architectures.")
flags.DEFINE_bool("smoke", False, "Tiny, fast run (for tests).")
flags.DEFINE_string("out", None, "Write the JSON result here.")

KERNELS = (1, 3, 5, 7)
FILTERS = (24, 36, 48, 64)


def random_archs(key: jax.Array, batch: int, layers: int) -> ArchArrays:
    """``[batch, layers]`` random architectures, input 32x32x3, stride 1."""
    k_key, f_key = jax.random.split(key)
    kernel = jnp.asarray(KERNELS, jnp.int32)[
        jax.random.randint(k_key, (batch, layers), 0, len(KERNELS))
    ]
    filters = jnp.asarray(FILTERS, jnp.int32)[
        jax.random.randint(f_key, (batch, layers), 0, len(FILTERS))
    ]
    return ArchArrays(
        kernel=kernel,
        filters=filters,
        stride=jnp.ones((batch, layers), jnp.int32),
        mask=jnp.ones((batch, layers), bool),
        input_hwc=jnp.tile(jnp.asarray([32, 32, 3], jnp.int32), (batch, 1)),
    )


def benchmark(
    batch: int,
    layers: int,
    platform: str,
    objective: str,
    repeats: int,
    seed: int,
) -> dict:
    """Runs the benchmark; returns the JSON-ready result."""
    if batch < 1 or layers < 1 or repeats < 1:
        raise UsageError("--batch, --layers and --repeats must be positive")
    plat = resolve_platform(platform)
    space = design_space(plat)
    arch = random_archs(jax.random.PRNGKey(seed), batch, layers)

    opt_fn = lambda: jax.block_until_ready(optimize(arch, space, objective))
    compile_s, _ = time_runs(opt_fn, 1)
    opt_s, opt_times = time_runs(opt_fn, repeats)

    sampled = optimize(arch, space, objective).design
    explore_fn = lambda: jax.block_until_ready(
        fast_explore(arch, sampled, space, objective=objective).figures
    )
    explore_compile_s, _ = time_runs(explore_fn, 1)
    explore_s, _ = time_runs(explore_fn, repeats)

    plat_arrays = platform_arrays(plat)
    eval_fn = lambda: jax.block_until_ready(
        cost_model.evaluate(arch, sampled, plat_arrays)
    )
    time_runs(eval_fn, 1)
    eval_s, _ = time_runs(eval_fn, repeats)

    declared = space.designs_covered(layers)
    scanned = space.designs_covered(layers, kept=True)
    archs_per_s = batch / opt_s
    evaluator_designs_per_s = batch / eval_s
    return {
        "benchmark": "fast_explore",
        "platform": plat.name,
        "objective": objective,
        "batch": batch,
        "layers": layers,
        "repeats": repeats,
        "grid": list(space.report),
        "compile_s": compile_s,
        "median_s": opt_s,
        "run_times_s": opt_times,
        "archs_per_s": archs_per_s,
        "designs_per_arch": declared,
        "designs_scanned_per_arch": scanned,
        "designs_per_s": archs_per_s * declared,
        "explore_compile_s": explore_compile_s,
        "explore_median_s": explore_s,
        "explore_archs_per_s": batch / explore_s,
        "peer": "cost_model.evaluate, one design per architecture",
        "peer_designs_per_s": evaluator_designs_per_s,
        "ratio_covered_vs_scored": archs_per_s * declared / evaluator_designs_per_s,
        **environment(),
    }


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.smoke:
        result = benchmark(8, 4, FLAGS.platform, FLAGS.objective, 1, FLAGS.seed)
        result["smoke"] = True
    else:
        result = benchmark(
            FLAGS.batch,
            FLAGS.layers,
            FLAGS.platform,
            FLAGS.objective,
            FLAGS.repeats,
            FLAGS.seed,
        )
    write_benchmark(result, FLAGS.out)


if __name__ == "__main__":
    run(main, compile_cache=False)
