"""Benchmark of the controller: sequences sampled per second, updates per second.

A representative co-exploration space: a fixed-stride architecture of
``--depth`` layers (kernels 1/3/5/7, filters 24/36/48/64) and the pool of
``--platform`` with 6 values per tiling parameter (the
:class:`cosearch.policy.value_sets.HardwareSpace` defaults). For each batch size:
the first call (compile included) apart, then the median of warm runs, each
ended with ``block_until_ready``, of the jitted
:func:`cosearch.policy.controller.sample` (one ``lax.scan`` over all tokens)
and of :func:`cosearch.policy.reinforce.update`
(log-probabilities recomputed, gradient, Adam step) on sampled tokens with
random rewards. The peer is batch size 1 in the same run, as when sequences
are sampled one at a time: ``sample_speedup_vs_batch1`` is the ratio of
sequences per second.

    python -m benchmarks.bench_controller --out=/tmp/bench_controller.json
    python -m benchmarks.bench_controller --smoke     # seconds
"""

from __future__ import annotations

import time

import jax
from absl import flags

from cosearch.hardware.devices import resolve_platform
from cosearch.policy import reinforce
from cosearch.policy.controller import Controller, sample
from cosearch.policy.space import SearchSpace
from cosearch.policy.value_sets import ArchSpace, HardwareSpace
from experiments import common

_OUT = flags.DEFINE_string("out", None, "Write the benchmark JSON here.")
_SMOKE = flags.DEFINE_bool("smoke", False, "Tiny batches, few repeats, seconds.")
_SIZES = flags.DEFINE_string("batch_sizes", "1,16,256,4096", "Batch sizes to time.")
_DEPTH = flags.DEFINE_integer("depth", 10, "Layers per architecture.")
_PLATFORM = flags.DEFINE_string("platform", "mixed4", "Platform preset or file.")
_HIDDEN = flags.DEFINE_integer("hidden", 35, "LSTM hidden size.")
_REPEATS = flags.DEFINE_integer("repeats", 20, "Warm runs per measurement (min).")
_MIN_SECONDS = flags.DEFINE_float(
    "min_seconds", 1.0, "Keep timing each measurement at least this long, s."
)
_SEED = flags.DEFINE_integer("seed", 0, "Root seed.")

SMOKE_SIZES = (2,)  # one compile of each function


def bench_batch(
    controller: Controller,
    state: reinforce.ReinforceState,
    key: jax.Array,
    batch: int,
    repeats: int,
    min_seconds: float,
) -> dict[str, float]:
    """Times sampling and updates at one batch size (``key`` is consumed).

    Returns:
      Seconds: ``sample_first_s``/``update_first_s`` (first call, compile
      included) and ``sample_s``/``update_s`` (median warm run).
    """
    sample_key, reward_key, run_key = jax.random.split(key, 3)
    t0 = time.perf_counter()
    s = sample(controller, state.params, sample_key, batch)
    s.tokens.block_until_ready()
    sample_first = time.perf_counter() - t0

    runs = iter(range(1 << 30))

    def run_sample():
        k = jax.random.fold_in(run_key, next(runs))
        sample(controller, state.params, k, batch).tokens.block_until_ready()

    sample_s, _ = common.time_runs(run_sample, repeats, min_seconds)

    rewards = jax.random.uniform(reward_key, (batch,), minval=-1.0, maxval=1.0)
    t0 = time.perf_counter()
    holder = [reinforce.update(state, s.tokens, rewards)[0]]
    jax.block_until_ready(holder[0])
    update_first = time.perf_counter() - t0

    def run_update():
        holder[0], metrics = reinforce.update(holder[0], s.tokens, rewards)
        jax.block_until_ready((holder[0].params, metrics))

    update_s, _ = common.time_runs(run_update, repeats, min_seconds)
    return {
        "sample_first_s": sample_first,
        "sample_s": sample_s,
        "update_first_s": update_first,
        "update_s": update_s,
    }


def main(argv):
    if len(argv) > 1:
        raise common.UsageError(f"unexpected arguments {argv[1:]}")
    sizes = (
        SMOKE_SIZES
        if _SMOKE.value
        else common.parse_ints(_SIZES.value, "--batch_sizes")
    )
    repeats = 2 if _SMOKE.value else _REPEATS.value
    min_seconds = 0.0 if _SMOKE.value else _MIN_SECONDS.value
    if repeats < 1:
        raise common.UsageError(f"--repeats must be at least 1, got {repeats}")
    platform = resolve_platform(_PLATFORM.value)
    space = SearchSpace(ArchSpace(_DEPTH.value), HardwareSpace(platform.size))
    controller = Controller(space, hidden=_HIDDEN.value)
    config = reinforce.ReinforceConfig()
    root = jax.random.key(_SEED.value)
    state = reinforce.init(config, controller, jax.random.fold_in(root, 0))

    per_batch = {}
    for i, b in enumerate(sizes):
        key = jax.random.fold_in(root, i + 1)
        per_batch[str(b)] = bench_batch(controller, state, key, b, repeats, min_seconds)
    pick = lambda f: {b: f(r, int(b)) for b, r in per_batch.items()}
    samples_per_s = pick(lambda r, b: b / r["sample_s"])
    result = {
        "benchmark": "controller",
        **common.environment(),
        "smoke": _SMOKE.value,
        "platform": platform.name,
        "depth": space.arch.depth,
        "pool_size": space.pool_size,
        "num_tokens": space.num_tokens,
        "max_choices": space.max_choices,
        "hidden": controller.hidden,
        "optimizer": config.optimizer,
        "batch_sizes": list(sizes),
        "repeats": repeats,
        "samples_per_s": samples_per_s,
        "updates_per_s": pick(lambda r, b: 1.0 / r["update_s"]),
        "updated_sequences_per_s": pick(lambda r, b: b / r["update_s"]),
        "sample_ms": pick(lambda r, b: 1e3 * r["sample_s"]),
        "update_ms": pick(lambda r, b: 1e3 * r["update_s"]),
        "sample_first_call_s": pick(lambda r, b: r["sample_first_s"]),
        "update_first_call_s": pick(lambda r, b: r["update_first_s"]),
    }
    if "1" in samples_per_s:
        result["sample_speedup_vs_batch1"] = {
            b: v / samples_per_s["1"] for b, v in samples_per_s.items()
        }
    common.write_benchmark(result, _OUT.value)


if __name__ == "__main__":
    common.run(main, compile_cache=False)
