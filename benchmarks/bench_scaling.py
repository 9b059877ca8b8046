r"""Benchmark: fast-level throughput versus the number of local devices.

    python -m benchmarks.bench_scaling --out=/tmp/bench_scaling.json
    python -m benchmarks.bench_scaling --smoke   # counts 1,2, small batches

For each device count n of ``--device_counts`` (1 is always included: it is
the baseline), using the first n local devices (docs/design.md section 9):

- the cost model: ``--pairs`` random valid (architecture, design) pairs
  (``--layers`` layers, ``--platform``; the pair generator of
  ``benchmarks.bench_fast_loop``) placed once with
  :func:`cosearch.hardware.sharding.place_pairs` (``min_per_device=1``: the
  batch goes on the largest count <= n that divides it, reported as
  ``cost_model_devices``), then ``cost_model.evaluate`` timed;
- the design optimizer: :func:`cosearch.hardware.optimizer.optimize` of
  ``--archs`` architectures (the architectures of the same generator, default
  grid, throughput objective) with ``devices`` = those n devices (padding,
  placement and the cut-back included in the time, as a caller sees it).

Compile apart (the first call), median of ``--repeats`` warm runs, each
ended with ``block_until_ready``. ``agree``: every count's results equal the
n = 1 results exactly (every field), and n = 1 equals the plain
single-device calls (``evaluate`` on one device, ``optimize`` with
``devices=None``).

Run as a program on CPU with ``XLA_FLAGS`` unset, the launcher asks XLA for
``max(--device_counts)`` host devices before JAX is imported (host devices
share the machine's cores: with c cores, more than c devices cannot beat c;
``cores`` in the JSON). On an accelerator the real local devices are used;
counts above the number available are skipped, with a note in ``skipped``.
"""

from __future__ import annotations

import os
import sys

DEFAULT_COUNTS = "1,2,4"


def _max_count(argv: list[str]) -> int:
    """Largest of ``--device_counts`` in ``argv`` (before flags are parsed)."""
    text = DEFAULT_COUNTS
    for i, arg in enumerate(argv):
        if arg.startswith("--device_counts="):
            text = arg.split("=", 1)[1]
        elif arg == "--device_counts" and i + 1 < len(argv):
            text = argv[i + 1]
    try:
        return max([1, *(int(v) for v in text.split(",") if v.strip())])
    except ValueError:  # the flag parser reports it
        return 1


if __name__ == "__main__" and "XLA_FLAGS" not in os.environ:
    # Before JAX is imported: one host device per requested count.
    os.environ["XLA_FLAGS"] = (
        f"--xla_force_host_platform_device_count={_max_count(sys.argv)}"
    )

import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from benchmarks.bench_fast_loop import random_pairs  # noqa: E402
from cosearch.hardware.cost_model import evaluate  # noqa: E402
from cosearch.hardware.design_space import design_space  # noqa: E402
from cosearch.hardware.devices import resolve_platform  # noqa: E402
from cosearch.hardware.optimizer import optimize  # noqa: E402
from cosearch.hardware.platform_arrays import platform_arrays  # noqa: E402
from cosearch.hardware.sharding import place_pairs  # noqa: E402
from experiments import common  # noqa: E402

FLAGS = flags.FLAGS
OBJECTIVE = "throughput"


def define_flags() -> None:
    """The benchmark's flags (defined on demand, so importing this is harmless)."""
    flags.DEFINE_string("out", None, "Write the benchmark JSON here.")
    flags.DEFINE_bool("smoke", False, "Small batches, runs in seconds.")
    flags.DEFINE_string(
        "device_counts", DEFAULT_COUNTS, "Device counts to time (1 is added)."
    )
    flags.DEFINE_integer("pairs", 100_000, "Pairs scored by the cost model.")
    flags.DEFINE_integer("archs", 256, "Architectures optimised.")
    flags.DEFINE_integer("layers", 10, "Layers per architecture.")
    flags.DEFINE_string("platform", "mixed4", "Platform preset or file.")
    flags.DEFINE_integer("repeats", 5, "Warm runs per measurement (median).")
    flags.DEFINE_integer("seed", 0, "Seed of the random pairs.")


def same_tree(a, b) -> str:
    """'' when two pytrees are equal exactly (NaN == NaN), else the first path."""
    a, b = jax.device_get(a), jax.device_get(b)
    if jax.tree.structure(a) != jax.tree.structure(b):
        return "tree structure"
    for (path, x), y in zip(
        jax.tree_util.tree_flatten_with_path(a)[0], jax.tree.leaves(b), strict=True
    ):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype != y.dtype or not np.array_equal(x, y, equal_nan=True):
            return jax.tree_util.keystr(path) or "leaf"
    return ""


def _timed(fn, repeats: int):
    """(first-call seconds, median warm seconds, last result)."""
    out = {}

    def call():
        out["r"] = jax.block_until_ready(fn())

    compile_s, _ = common.time_runs(call, 1)
    median_s, _ = common.time_runs(call, repeats)
    return compile_s, median_s, out["r"]


def bench(
    counts: list[int],
    *,
    pairs: int,
    archs: int,
    layers: int,
    platform: str,
    repeats: int,
    seed: int,
) -> dict:
    """Runs the benchmark; returns the JSON-ready dict."""
    plat = resolve_platform(platform)
    plat_arrays = platform_arrays(plat)
    space = design_space(plat)
    key = jax.random.key(seed)
    arch_np, design_np = random_pairs(key, batch=pairs, depth=layers, pool=plat.size)
    opt_arch, _ = random_pairs(
        jax.random.fold_in(key, 1), batch=archs, depth=layers, pool=plat.size
    )
    local = jax.local_devices()
    load_before = os.getloadavg()

    # Plain single-device calls: the reference of every count.
    one = jax.device_put((arch_np, design_np, plat_arrays), local[0])
    plain_cost = jax.device_get(jax.block_until_ready(evaluate(*one)))
    plain_opt = jax.device_get(
        jax.block_until_ready(optimize(opt_arch, space, OBJECTIVE))
    )
    del one

    rows, skipped, why = [], [], []
    for n in counts:
        if n > len(local):
            skipped.append({"devices": n, "note": f"only {len(local)} local devices"})
            continue
        devs = local[:n]
        placed = jax.block_until_ready(
            place_pairs(arch_np, design_np, plat_arrays, devs, min_per_device=1)
        )
        cost_devices = len(placed[0].kernel.sharding.device_set)
        cost_compile, cost_s, cost = _timed(lambda p=placed: evaluate(*p), repeats)
        del placed
        opt_compile, opt_s, opt = _timed(
            lambda d=devs: optimize(opt_arch, space, OBJECTIVE, devices=d), repeats
        )
        opt_devices = len(opt.throughput.sharding.device_set)
        for name, got, want in (
            ("cost model", cost, plain_cost),
            ("optimizer", opt, plain_opt),
        ):
            diff = same_tree(got, want)
            if diff:
                why.append(f"{n} devices, {name}: {diff} differs from one device")
        rows.append(
            {
                "devices": n,
                "cost_model_devices": cost_devices,
                "optimizer_devices": opt_devices,
                "pairs_per_s": pairs / cost_s,
                "archs_per_s": archs / opt_s,
                "cost_model_s": cost_s,
                "optimizer_s": opt_s,
                "cost_model_compile_s": cost_compile,
                "optimizer_compile_s": opt_compile,
            }
        )
    base = rows[0]
    for row in rows:
        row["speedup_vs_one"] = {
            "pairs_per_s": row["pairs_per_s"] / base["pairs_per_s"],
            "archs_per_s": row["archs_per_s"] / base["archs_per_s"],
        }
    return {
        "benchmark": "scaling",
        "platform": plat.name,
        "objective": OBJECTIVE,
        "layers": layers,
        "pairs": pairs,
        "archs": archs,
        "repeats": repeats,
        "device_counts": counts,
        "rows": rows,
        "skipped": skipped,
        "agree": not why,
        "disagreements": why,
        "cores": os.cpu_count(),
        "local_devices": len(local),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "timing": (
            "median of warm runs, each ended with block_until_ready; compile_s "
            "is the first call; the cost model is timed on pairs placed once "
            "(place_pairs, min_per_device=1), the optimizer as called "
            "(optimize(..., devices=first n devices): padding, placement, cut)"
        ),
        "note": (
            "host devices share the machine's cores: on CPU, counts above "
            "`cores` cannot run faster, and other jobs on the cores skew the "
            "figures (load_average_*)"
        ),
        **common.environment(),
    }


def main(argv):
    common.require(argv)
    counts = common.parse_ints(FLAGS.device_counts, "--device_counts")
    if FLAGS.smoke and not FLAGS["device_counts"].present:
        counts = (1, 2)  # fewer programs to compile; 3 archs padded to 4
    counts = sorted({1, *counts})
    if FLAGS.smoke:
        sizes = {"pairs": 2048, "archs": 3, "layers": 4, "repeats": 1}
    else:
        sizes = {
            "pairs": FLAGS.pairs,
            "archs": FLAGS.archs,
            "layers": FLAGS.layers,
            "repeats": FLAGS.repeats,
        }
    if min(sizes.values()) < 1:
        raise common.UsageError(
            "--pairs, --archs, --layers and --repeats must be positive"
        )
    platform = resolve_platform(FLAGS.platform)
    if sizes["layers"] < max(2, platform.size):
        raise common.UsageError(
            f"--layers must be at least {max(2, platform.size)} (the pair "
            f"generator puts up to one stage per FPGA of {platform.name})"
        )
    result = bench(counts, platform=FLAGS.platform, seed=FLAGS.seed, **sizes)
    result["smoke"] = FLAGS.smoke
    common.write_benchmark(result, FLAGS.out)


if __name__ == "__main__":
    define_flags()
    common.run(main, compile_cache=False)
