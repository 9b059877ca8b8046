r"""Benchmark: children per hour of the search's proxy training, JAX against PyTorch.

What a search spends its time on: ``--num_archs`` feasible architectures of
the config's space (default experiments/configs/default.py), drawn as
experiments.proxy_fidelity draws them, each trained with the config's proxy
budget (``train.*``: 100 SGD steps of 64, gap head) on its data (the
embedded Fashion-MNIST subset) and scored on the 3,000 validation images,
each architecture seen for the first time (compilation included), as in a
search. The PyTorch peer (benchmarks/torch_peer.py) trains the same network
from the same initial weights on the same batches in the same order with the
same optimizer and evaluation; for each architecture the two run one after
the other in this process, alternating which goes first.

Each child's seconds are split into compile (JAX only), init, training
steps and evaluation; the training steps' FLOP/s are set against the
machine's float32 peak, measured in the same run by a large matmul.

JAX's programs go to a persistent compilation cache in a fresh temporary
folder (as a search's go to the user's cache, cosearch.runtime): the first
pass compiles every architecture (and writes it to the cache), and a second
pass (``jax_cached``) trains every architecture again in a new trainer, as a
resumed or repeated search would, loading the programs from the cache.

    python -m benchmarks.bench_child --proxy --out=/tmp/bench_child_proxy.json
    python -m benchmarks.bench_child --proxy --smoke --out=/tmp/proxy_smoke.json

``--config`` (with ``--config.train.*`` overrides) picks another config.
With ``--warm`` (default) the JSON also holds bench_child's warm-step
figures (28x28x1 and 32x32x3) under ``warm_steps``.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable

import jax
import numpy as np
from absl import flags
from ml_collections import config_flags

from benchmarks import torch_peer
from benchmarks.machine import PAUSE_S, PEAK_N, PEAK_REPEATS, matmul_peak
from cosearch.child.network import as_layers
from cosearch.child.train import Trainer
from cosearch.data import Split
from cosearch.runtime import compile_counts, enable_compile_cache
from cosearch.search import setup as search_setup
from experiments import common
from experiments.configs import default as default_config

_CONFIG = config_flags.DEFINE_config_file(
    "config",
    None,
    "with --proxy: the search config (default: experiments/configs/default.py)",
)
_NUM_ARCHS = flags.DEFINE_integer("num_archs", 8, "with --proxy: architectures trained")
_ARCH_SEED = flags.DEFINE_integer(
    "arch_seed", 123, "with --proxy: seed of the architecture draw"
)
_WARM = flags.DEFINE_bool(
    "warm", True, "with --proxy: also measure bench_child's warm steps"
)

TRAIN_SEED = 0  # every child trains with key(TRAIN_SEED), as a proxy seed
FLOP_RULE = (
    "training FLOPs = 3 x 2 x MACs per image x batch x steps (forward 1x, "
    "backward 2x; MACs of the conv layers, Architecture.macs); "
    "FLOP/s = training FLOPs / train_s"
)
SMOKE = {"archs": 2, "steps": 3, "val_images": 200, "eval_batch": 100, "peak_n": 256}


class TimedTrainer(Trainer):
    """A :class:`Trainer` that also records the seconds of the last child's
    initialisation and evaluation (``TrainResult`` holds only the whole and
    the compilation). Its children train exactly as with a Trainer."""

    def __init__(self):
        super().__init__()
        self.init_s = 0.0
        self.eval_s = 0.0

    def programs(self, *args, **kwargs):
        programs, compile_s = super().programs(*args, **kwargs)

        def init(key):
            t0 = time.perf_counter()
            out = jax.block_until_ready(programs.init(key))
            self.init_s = time.perf_counter() - t0
            return out

        return programs._replace(init=init), compile_s

    def accuracy(self, *args, **kwargs):
        t0 = time.perf_counter()
        acc = super().accuracy(*args, **kwargs)
        self.eval_s = time.perf_counter() - t0
        return acc


def _row(wall, compile_s, init, train_s, eval_s, acc, losses, failed, reason, flops):
    return {
        "wall_s": wall,
        "compile_s": compile_s,
        "init_s": init,
        "train_s": train_s,
        "eval_s": eval_s,
        "val_accuracy": acc,
        "final_loss": float(np.mean(losses[-5:])) if losses else float("nan"),
        "steps": len(losses),
        "failed": failed,
        "reason": reason,
        "train_flops_per_s": flops * len(losses) / train_s if train_s > 0 else 0.0,
    }


def run_jax(trainer: TimedTrainer, arch, dataset, config, step_flops) -> dict:
    """One JAX child as the search trains it; train_s is what remains of the
    wall seconds after compile, init and evaluation."""
    trainer.init_s = trainer.eval_s = 0.0
    res = trainer.train(arch, dataset, config, jax.random.key(TRAIN_SEED))
    train_s = res.wall_s - res.compile_s - trainer.init_s - trainer.eval_s
    return _row(
        res.wall_s,
        res.compile_s,
        trainer.init_s,
        train_s,
        trainer.eval_s,
        res.val_accuracy,
        res.loss_curve,
        res.failed,
        res.reason,
        step_flops,
    )


def run_torch(arch, dataset, data, config, step_flops) -> dict:
    """The PyTorch peer of :func:`run_jax` (compile 0)."""
    res = torch_peer.train(
        as_layers(arch), dataset, data, config, jax.random.key(TRAIN_SEED)
    )
    return _row(
        res.wall_s,
        0.0,
        res.init_s,
        res.train_s,
        res.eval_s,
        res.val_accuracy,
        res.loss_curve,
        res.failed,
        res.reason,
        step_flops,
    )


def summarize(rows: list[dict], step_flops: list[float], peak: float) -> dict:
    """Aggregate figures of one framework's children."""
    walls = [r["wall_s"] for r in rows]
    train_s = sum(r["train_s"] for r in rows)
    flops = sum(f * r["steps"] for f, r in zip(step_flops, rows, strict=True))
    per_s = flops / train_s if train_s > 0 else 0.0
    return {
        "children": len(rows),
        "total_s": sum(walls),
        "median_s_per_child": statistics.median(walls),
        "children_per_hour": 3600.0 * len(rows) / sum(walls),
        "median_compile_s": statistics.median(r["compile_s"] for r in rows),
        "median_train_s": statistics.median(r["train_s"] for r in rows),
        "median_eval_s": statistics.median(r["eval_s"] for r in rows),
        "mean_val_accuracy": statistics.fmean(r["val_accuracy"] for r in rows),
        "train_flops_per_s": per_s,
        "share_of_peak": per_s / peak,
    }


def proxy_setup(smoke: bool):
    """(setup, proxy TrainConfig, dataset, architectures) of the run."""
    config = _CONFIG.value or default_config.get_config()
    count = _NUM_ARCHS.value
    if smoke:
        config = config.copy_and_resolve_references()
        space = config.space
        space.depth, space.kernels, space.filters = 2, (1, 3), (4, 8)
        count = SMOKE["archs"]
    if count < 1:
        raise common.UsageError("--num_archs must be >= 1")
    setup = search_setup.build(config)
    train_config, dataset = setup.train_config, setup.dataset
    if smoke:
        train_config = dataclasses.replace(
            train_config, steps=SMOKE["steps"], eval_batch_size=SMOKE["eval_batch"]
        )
        v = SMOKE["val_images"]
        dataset = dataset._replace(
            val=Split(dataset.val.images[:v], dataset.val.labels[:v])
        )
    archs = common.draw_architectures(
        setup, count, _ARCH_SEED.value, feasible_only=True
    )
    return setup, train_config, dataset, archs


def _print_table(children, frameworks, peak) -> None:
    head = "  #  fw          MMACs  wall s  compile  init  train  eval   acc  GFLOP/s"
    print(head)
    for c in children:
        for fw in ("jax", "jax_cached", "torch"):
            r = c[fw]
            if r is None:
                continue
            print(
                f"{c['index']:3d}  {fw:10s} {c['mmacs']:6.1f} {r['wall_s']:7.2f} "
                f"{r['compile_s']:8.2f} {r['init_s']:5.2f} {r['train_s']:6.2f} "
                f"{r['eval_s']:5.2f} {r['val_accuracy']:5.3f} "
                f"{r['train_flops_per_s'] / 1e9:8.2f}  "
                f"{c['arch'] if fw == 'jax' else ''}"
            )
    print(f"peak float32 matmul: {peak['flops_per_s'] / 1e9:.1f} GFLOP/s")
    for fw, s in frameworks.items():
        if s is None:
            continue
        print(
            f"{fw}: {s['children_per_hour']:.1f} children/h, median "
            f"{s['median_s_per_child']:.2f} s/child, training at "
            f"{s['train_flops_per_s'] / 1e9:.2f} GFLOP/s "
            f"({100 * s['share_of_peak']:.1f}% of peak)"
        )


def main(
    smoke: bool, use_torch: bool, warm_steps: Callable[[], dict], out: str | None
) -> None:
    """Runs the benchmark and writes its JSON (see module doc).

    Args:
      smoke: a run of seconds (2 small architectures, 3 steps, 200 images).
      use_torch: measure the PyTorch peer (when installed).
      warm_steps: bench_child's warm-step measurement, run with ``--warm``.
      out: the JSON's path (None: printed only).
    """
    cache_dir = tempfile.mkdtemp(prefix="cosearch-bench-jax-cache-")
    enable_compile_cache(cache_dir)
    version = torch_peer.torch_version()
    note = ""
    if not use_torch:
        note = "disabled by --notorch"
    elif version is None:
        note = "torch is not installed (pip install -e '.[bench]')"
    threads = torch_peer.setup_torch() if not note else None
    setup, config, dataset, archs = proxy_setup(smoke)
    if not note and config.optimizer != "sgd":
        note = f"the torch peer trains with sgd only, not {config.optimizer}"
    n = SMOKE["peak_n"] if smoke else PEAK_N
    peak = matmul_peak(n, 2 if smoke else PEAK_REPEATS, not note)
    data = torch_peer.torch_data(dataset, config) if not note else None
    trainer = TimedTrainer()
    children, flops = [], []
    for i, arch in enumerate(archs):
        mac = arch.macs(dataset.input_shape)
        step_flops = 3 * 2 * mac * config.batch_size
        flops.append(step_flops)
        runners = {
            "jax": lambda a=arch, f=step_flops: run_jax(trainer, a, dataset, config, f),
            "torch": lambda a=arch, f=step_flops: run_torch(
                a, dataset, data, config, f
            ),
        }
        order = ["jax", "torch"] if i % 2 == 0 or note else ["torch", "jax"]
        row = {"index": i, "arch": str(arch), "mmacs": mac / 1e6, "first": order[0]}
        row["torch"] = None
        for fw in order:
            if fw == "torch" and note:
                continue
            time.sleep(PAUSE_S)
            row[fw] = runners[fw]()
        children.append(row)
        print(f"arch {i + 1}/{len(archs)} {arch}: done", flush=True)
    first_pass = compile_counts()
    cached = TimedTrainer()  # a new process's trainer: nothing in memory
    for row, arch, f in zip(children, archs, flops, strict=True):
        time.sleep(PAUSE_S)
        row["jax_cached"] = run_jax(cached, arch, dataset, config, f)
    second_pass = compile_counts()
    print("second JAX pass (programs from the compile cache): done", flush=True)
    frameworks = {
        "jax": summarize([c["jax"] for c in children], flops, peak["flops_per_s"]),
        "jax_cached": summarize(
            [c["jax_cached"] for c in children], flops, peak["flops_per_s"]
        ),
        "torch": None
        if note
        else summarize([c["torch"] for c in children], flops, peak["flops_per_s"]),
    }
    _print_table(children, frameworks, peak)
    jax_cph = frameworks["jax"]["children_per_hour"]
    result = {
        "benchmark": "bench_child_proxy",
        "smoke": smoke,
        "num_archs": len(archs),
        "arch_seed": _ARCH_SEED.value,
        "train_seed": TRAIN_SEED,
        "space": setup.config_json["space"],
        "train": dataclasses.asdict(config),
        "data": {
            "name": dataset.name,
            "input_shape": list(dataset.input_shape),
            "train_images": int(dataset.train.labels.shape[0]),
            "val_images": int(dataset.val.labels.shape[0]),
        },
        "flop_rule": FLOP_RULE,
        "peak": peak,
        "children": children,
        "frameworks": frameworks,
        "children_per_hour_ratio": None
        if note
        else jax_cph / frameworks["torch"]["children_per_hour"],
        "children_per_hour_ratio_cached": None
        if note
        else frameworks["jax_cached"]["children_per_hour"]
        / frameworks["torch"]["children_per_hour"],
        "compile_cache": {
            "first_pass": {
                "compiled": first_pass.compiled,
                "loaded": first_pass.loaded,
            },
            "second_pass": {
                "compiled": second_pass.compiled - first_pass.compiled,
                "loaded": second_pass.loaded - first_pass.loaded,
            },
        },
        "torch_version": version,
        "torch_threads": threads,
        "torch_note": note,
        "warm_steps": warm_steps() if _WARM.value else None,
        "load_avg_1min": os.getloadavg()[0],
        **common.environment(),
    }
    common.write_benchmark(result, out)
