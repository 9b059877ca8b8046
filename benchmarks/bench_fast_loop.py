"""Benchmark of the fast loop: the batched cost model vs NumPy and the reference.

Random valid (architecture, design) pairs: 10-layer architectures of the
docs/design.md section 2 space (kernels 1/3/5/7, filters 24/36/48/64, strides
1/2, 32x32x3 input) on the ``mixed4`` platform, with designs of 1..4 stages
on distinct FPGAs and tilings drawn from a grid (about half are feasible).
For each batch size: compile time apart, median of warm runs of the jitted
:func:`cosearch.hardware.cost_model.evaluate` (``block_until_ready``), the
NumPy version on the same pairs, and the scalar reference on a subset
(extrapolated per pair); ``agree`` checks all three on that subset (rtol
1e-5, feasibility identical) and JAX vs NumPy on the whole batch.

    python -m benchmarks.bench_fast_loop --out=/tmp/bench_fast_loop.json
    python -m benchmarks.bench_fast_loop --smoke     # seconds

The batch is sharded over all local devices (docs/design.md section 9,
:mod:`cosearch.hardware.sharding`). On CPU, run as a program, this launcher
asks XLA for one host device per core
(``--xla_force_host_platform_device_count``) unless ``XLA_FLAGS`` is already
set; ``device_count`` in the JSON says how many devices ran, and each batch
size also reports the single-device time (``one_device_pairs_per_s``).
"""

from __future__ import annotations

import os
import time

if __name__ == "__main__" and "XLA_FLAGS" not in os.environ:
    # Before JAX is imported: one CPU device per core, for the batch sharding.
    os.environ["XLA_FLAGS"] = (
        f"--xla_force_host_platform_device_count={os.cpu_count() or 1}"
    )

import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from cosearch.hardware.architecture import ArchArrays, Architecture
from cosearch.hardware.cost_model import CostResult, evaluate  # noqa: E402
from cosearch.hardware.design import DesignArrays, designs_from_arrays
from cosearch.hardware.devices import Platform, resolve_platform  # noqa: E402
from cosearch.hardware.platform_arrays import platform_arrays  # noqa: E402
from cosearch.hardware.sharding import place_pairs  # noqa: E402
from experiments import common  # noqa: E402
from oracles.cost_numpy import evaluate_numpy  # noqa: E402
from oracles.reference import evaluate_reference  # noqa: E402

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The benchmark's flags (defined on demand, so importing this is harmless)."""
    flags.DEFINE_string("out", None, "Write the benchmark JSON here.")
    flags.DEFINE_bool("smoke", False, "One small batch, runs in seconds.")
    flags.DEFINE_list(
        "sizes", ["1000", "10000", "100000", "1000000"], "Batch sizes to time."
    )
    flags.DEFINE_string("platform", "mixed4", "Platform preset or file.")
    flags.DEFINE_integer("depth", 10, "Layers per architecture.")
    flags.DEFINE_integer(
        "reference_pairs", 2000, "Pairs timed with the scalar reference."
    )
    flags.DEFINE_integer("repeats", 7, "Warm runs per measurement.")
    flags.DEFINE_integer("seed", 0, "Seed of the random pairs.")
    flags.DEFINE_integer(
        "max_pairs", 1_000_000, "Skip batch sizes above this (memory)."
    )
    flags.DEFINE_integer(
        "min_pairs_per_device",
        MIN_PAIRS_PER_DEVICE,
        "Shard a batch only where every device gets at least this many pairs.",
    )


INPUT_HWC = (32, 32, 3)
# Below about this many pairs per device, splitting the batch over the CPU
# devices costs more in dispatch than it gains (measured on 2 cores: 1e4
# pairs run faster on one device, 1e5 faster on two).
MIN_PAIRS_PER_DEVICE = 32768
KERNELS = (1, 3, 5, 7)
FILTERS = (24, 36, 48, 64)
STRIDES = (1, 2)
# Tiling grid of the random designs (words per cycle for the ports).
TM_GRID = (4, 8, 16, 24, 32, 48, 64)
TN_GRID = (1, 2, 4, 8, 16, 32)
TRC_GRID = (2, 4, 8, 16, 32)
PORT_GRID = (1, 2, 4, 8)


def random_pairs(key, *, batch: int, depth: int, pool: int):
    """Random valid pairs: architectures ``[batch, depth]``, designs ``[batch, pool]``.

    Each design has m ~ U{1..min(pool, depth)} stages with random distinct cut
    points and distinct pool slots; tilings come from the grids above, with
    Tk = the stage's largest kernel for 90% of stages and a random kernel for
    the rest (so some designs fail only on Tk). One ``jax.random.uniform``
    draw feeds everything; the structure is built with NumPy (no compilation).

    Args:
      key: PRNG key, consumed.
      batch: B, number of pairs.
      depth: L, layers per architecture.
      pool: P, FPGAs in the platform (also the padded number of stages S).

    Returns:
      (ArchArrays, DesignArrays) of int32/bool NumPy arrays with leading ``[B]``.
    """
    widths = {
        "kernel": depth, "filters": depth, "stride": depth, "stages": 1,
        "cuts": depth - 1, "device": pool, "tm": pool, "tn": pool, "tr": pool,
        "tc": pool, "ports": 3 * pool, "coin": pool, "tk": pool,
    }  # fmt: skip
    u = np.asarray(jax.random.uniform(key, (batch, sum(widths.values()))))
    cols, at = {}, 0
    for name, width in widths.items():
        cols[name], at = u[:, at : at + width], at + width

    def choice(name, values):
        values = np.asarray(values, np.int32)
        index = np.minimum((cols[name] * len(values)).astype(np.int32), len(values) - 1)
        return values[index]

    kernel = choice("kernel", KERNELS)
    arch = ArchArrays(
        kernel=kernel,
        filters=choice("filters", FILTERS),
        stride=choice("stride", STRIDES),
        mask=np.ones((batch, depth), bool),
        input_hwc=np.broadcast_to(np.asarray(INPUT_HWC, np.int32), (batch, 3)).copy(),
    )
    num_stages = choice("stages", np.arange(1, min(pool, depth) + 1))[:, 0]
    # m - 1 distinct cut points in 1..depth-1, then depth, padded with depth.
    order = np.argsort(cols["cuts"], axis=1) + 1
    cuts = np.where(np.arange(depth - 1) < num_stages[:, None] - 1, order, depth)
    stage_end = np.sort(
        np.concatenate([cuts, np.full((batch, 1), depth)], axis=1), axis=1
    )[:, :pool].astype(np.int32)
    device = np.argsort(cols["device"], axis=1).astype(np.int32)
    # Largest kernel of each stage, [B, S].
    layer = np.arange(depth)
    start = np.concatenate([np.zeros((batch, 1), np.int32), stage_end[:, :-1]], 1)
    member = (layer >= start[:, :, None]) & (layer < stage_end[:, :, None])
    max_kernel = np.where(member, kernel[:, None, :], 1).max(axis=2)
    tk = np.where(cols["coin"] < 0.9, max_kernel, choice("tk", KERNELS))
    ports = choice("ports", PORT_GRID).reshape(batch, pool, 3)
    tiling = np.stack(
        [
            choice("tm", TM_GRID),
            choice("tn", TN_GRID),
            choice("tr", TRC_GRID),
            choice("tc", TRC_GRID),
            tk,
            ports[..., 0],
            ports[..., 1],
            ports[..., 2],
        ],
        axis=-1,
    ).astype(np.int32)
    design = DesignArrays(
        num_stages=num_stages.astype(np.int32),
        stage_end=stage_end,
        device=device,
        tiling=tiling,
    )
    return arch, design


def architectures_from_arrays(arch: ArchArrays) -> list[Architecture]:
    """Host records from batched :class:`ArchArrays` (mask is a prefix)."""
    kernel, filters, stride, mask = (
        np.asarray(v) for v in (arch.kernel, arch.filters, arch.stride, arch.mask)
    )
    out = []
    for i in range(kernel.shape[0]):
        depth = int(mask[i].sum())
        out.append(
            Architecture(
                tuple(
                    zip(
                        kernel[i, :depth],
                        filters[i, :depth],
                        stride[i, :depth],
                        strict=True,
                    )
                )
            )
        )
    return out


def take(tree, count: int):
    """The first ``count`` pairs of a batched record of arrays (as NumPy)."""
    return jax.tree.map(lambda v: np.asarray(v)[:count], tree)


def reference_inputs(arch: ArchArrays, design: DesignArrays):
    """Host records (architectures, designs, input shapes) of a batch."""
    hwc = np.asarray(arch.input_hwc)
    return (
        architectures_from_arrays(arch),
        designs_from_arrays(design),
        [tuple(int(v) for v in row) for row in hwc],
    )


def reference_results(
    arch: ArchArrays, design: DesignArrays, platform: Platform, inputs=None
):
    """The scalar reference on every pair of a (small) batch, in a Python loop.

    Args:
      arch, design: the batch, as arrays.
      platform: the FPGA pool.
      inputs: :func:`reference_inputs` of the batch, if already converted.
    """
    archs, designs, shapes = inputs or reference_inputs(arch, design)
    return [
        evaluate_reference(a, d, platform, hwc)
        for a, d, hwc in zip(archs, designs, shapes, strict=True)
    ]


def compare(
    result: CostResult, other: CostResult, rtol: float = 1e-5
) -> tuple[bool, str]:
    """Whether two batched results agree (rtol on figures, exact on flags)."""
    a = jax.tree.map(np.asarray, result)
    b = jax.tree.map(np.asarray, other)
    for name in ("feasible", "valid", "stage_mask", "stage_feasible", "layer_stage"):
        if not np.array_equal(getattr(a, name), getattr(b, name)):
            return False, f"{name} differs"
    for name in ("stage_dsp", "stage_bram18", "stage_port_bits", "layer_bottleneck"):
        if not np.array_equal(getattr(a, name), getattr(b, name)):
            return False, f"{name} differs"
    for name in (
        "throughput",
        "latency",
        "gops_per_w",
        "pipeline_eff",
        "power_w",
        "macs",
        "stage_seconds",
        "stage_cycles",
        "layer_cycles",
    ):
        if not np.allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=0):
            return False, f"{name} differs"
    return True, ""


def compare_reference(result: CostResult, refs, rtol: float = 1e-5):
    """Whether a batched result agrees with a list of reference results."""
    a = jax.tree.map(np.asarray, result)
    for i, ref in enumerate(refs):
        if bool(a.valid[i]) != ref.valid or bool(a.feasible[i]) != ref.feasible:
            return False, f"pair {i}: valid/feasible differ"
        scalars = ("throughput", "latency", "gops_per_w", "pipeline_eff", "power_w")
        for name in (*scalars, "macs"):
            if not np.isclose(getattr(a, name)[i], getattr(ref, name), rtol=rtol):
                return False, f"pair {i}: {name} differs"
        if not ref.valid:
            continue
        m, depth = len(ref.stage_seconds), len(ref.layer_cycles)
        pairs = (
            ("stage_seconds", m),
            ("stage_cycles", m),
            ("layer_cycles", depth),
        )
        for name, count in pairs:
            if not np.allclose(
                getattr(a, name)[i, :count], getattr(ref, name), rtol=rtol
            ):
                return False, f"pair {i}: {name} differs"
        exact = (
            ("stage_dsp", m),
            ("stage_bram18", m),
            ("stage_port_bits", m),
            ("stage_feasible", m),
            ("layer_bottleneck", depth),
            ("layer_stage", depth),
        )
        for name, count in exact:
            if list(getattr(a, name)[i, :count]) != list(getattr(ref, name)):
                return False, f"pair {i}: {name} differs"
    return True, ""


def bench(
    sizes,
    platform: Platform,
    depth: int,
    ref_pairs: int,
    repeats: int,
    seed: int,
    min_per_device: int = MIN_PAIRS_PER_DEVICE,
):
    """Runs the benchmark; returns the JSON-ready dict."""
    plat = platform_arrays(platform)
    plat_np = platform_arrays(platform, xp=np)
    key = jax.random.key(seed)
    rows, agree, why = [], True, []
    for size in sizes:
        arch_np, design_np = random_pairs(
            jax.random.fold_in(key, size), batch=size, depth=depth, pool=platform.size
        )
        # Single device first (the reference for identical results), then the
        # batch sharded over every local device.
        one = jax.block_until_ready(jax.device_put((arch_np, design_np, plat)))
        one_result = jax.block_until_ready(evaluate(*one))
        one_s, _ = common.time_runs(
            lambda one=one: jax.block_until_ready(evaluate(*one)), repeats
        )
        placed = jax.block_until_ready(
            place_pairs(arch_np, design_np, plat, min_per_device=min_per_device)
        )
        arch, design, _ = placed
        devices_used = len(arch.kernel.sharding.device_set)

        t0 = time.perf_counter()
        result = jax.block_until_ready(evaluate(*placed))
        compile_s = time.perf_counter() - t0
        jax_s, _ = common.time_runs(
            lambda p=placed: jax.block_until_ready(evaluate(*p)), repeats
        )
        ok, reason = compare(result, one_result, rtol=0.0)
        agree &= ok
        if not ok:
            why.append(f"batch {size}: sharded vs one device: {reason}")
        np_repeats = max(1, min(repeats, int(2e6 // size)))
        numpy_s, _ = common.time_runs(
            lambda a=arch_np, d=design_np: evaluate_numpy(a, d, plat_np),
            np_repeats,
        )
        numpy_result = evaluate_numpy(arch_np, design_np, plat_np)
        ok, reason = compare(result, numpy_result)
        agree &= ok
        if not ok:
            why.append(f"batch {size}: jax vs numpy: {reason}")
        rows.append(
            {
                "batch": size,
                "compile_s": compile_s,
                "devices": devices_used,
                "jax_s": jax_s,
                "one_device_s": one_s,
                "one_device_pairs_per_s": size / one_s,
                "numpy_s": numpy_s,
                "pairs_per_s": size / jax_s,
                "numpy_pairs_per_s": size / numpy_s,
                "speedup_vs_numpy": numpy_s / jax_s,
                "feasible_fraction": float(np.mean(np.asarray(result.feasible))),
            }
        )

    # Scalar reference on a subset of the largest batch's pairs.
    count = min(ref_pairs, sizes[-1])
    sub_arch, sub_design = take(arch, count), take(design, count)
    inputs = reference_inputs(sub_arch, sub_design)  # records, not timed
    t0 = time.perf_counter()
    refs = reference_results(sub_arch, sub_design, platform, inputs)
    reference_s = (time.perf_counter() - t0) / count
    for name, res in (
        ("jax", take(result, count)),
        ("numpy", take(numpy_result, count)),
    ):
        ok, reason = compare_reference(res, refs)
        agree &= ok
        if not ok:
            why.append(f"{name} vs reference: {reason}")

    largest = rows[-1]
    reference_pairs_per_s = 1.0 / reference_s
    return {
        "benchmark": "fast_loop",
        "platform": platform.name,
        "depth": depth,
        "input_hwc": list(INPUT_HWC),
        "batch": largest["batch"],
        "pairs_per_s": largest["pairs_per_s"],
        "numpy_pairs_per_s": largest["numpy_pairs_per_s"],
        "reference_pairs_per_s": reference_pairs_per_s,
        "reference_pairs": count,
        "reference_note": (
            f"scalar reference timed on the first {count} pairs of the largest "
            "batch, rate extrapolated per pair"
        ),
        "speedup_vs_numpy": largest["pairs_per_s"] / largest["numpy_pairs_per_s"],
        "pairs_per_s_by_batch": {str(r["batch"]): r["pairs_per_s"] for r in rows},
        "one_device_pairs_per_s_by_batch": {
            str(r["batch"]): r["one_device_pairs_per_s"] for r in rows
        },
        "devices_by_batch": {str(r["batch"]): r["devices"] for r in rows},
        "speedup_vs_numpy_by_batch": {
            str(r["batch"]): r["speedup_vs_numpy"] for r in rows
        },
        "speedup_vs_reference": largest["pairs_per_s"] / reference_pairs_per_s,
        "agree": bool(agree),
        "disagreements": why,
        "rtol": 1e-5,
        "min_pairs_per_device": min_per_device,
        "repeats": repeats,
        "timing": (
            "median of warm runs, each ended with block_until_ready; compile_s is "
            "the first call (trace, compile and one run) of the sharded program; "
            "pairs_per_s is the batch sharded over the local devices, "
            "one_device_pairs_per_s the same program inputs on one device"
        ),
        "sizes": rows,
        **common.environment(),
    }


def main(argv):
    if len(argv) > 1:
        raise common.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.smoke:
        sizes, ref_pairs, repeats = [2048], 200, 3
    else:
        sizes = sorted(common.parse_ints(",".join(FLAGS.sizes), "--sizes"))
        sizes = [s for s in sizes if s <= FLAGS.max_pairs]
        if not sizes:
            raise common.UsageError("--sizes: no batch size within --max_pairs")
        ref_pairs, repeats = FLAGS.reference_pairs, FLAGS.repeats
    if FLAGS.depth < 2:
        raise common.UsageError("--depth must be at least 2")
    if ref_pairs < 1 or repeats < 1:
        raise common.UsageError("--reference_pairs and --repeats must be positive")
    if FLAGS.min_pairs_per_device < 1:
        raise common.UsageError("--min_pairs_per_device must be positive")
    # The smoke batch is small: shard it anyway, so the sharded path is run.
    min_per_device = 1 if FLAGS.smoke else FLAGS.min_pairs_per_device
    platform = resolve_platform(FLAGS.platform)
    result = bench(
        sizes,
        platform,
        FLAGS.depth,
        ref_pairs,
        repeats,
        FLAGS.seed,
        min_per_device,
    )
    result["smoke"] = FLAGS.smoke
    common.write_benchmark(result, FLAGS.out)


if __name__ == "__main__":
    define_flags()
    common.run(main, compile_cache=False)
