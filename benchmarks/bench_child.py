"""Benchmark: child training speed (images/s), JAX against PyTorch on the CPU.

One full training step (forward, backward, SGD-momentum update) of the
6-layer released design (docs/design.md section 2) at batch 64, for 28x28x1 and
32x32x3 inputs. Compile time is measured apart; throughput is the median of
warm steps. The PyTorch peer (same network, batch and optimizer,
``torch.set_num_threads(os.cpu_count())``) runs in the same process, its
timed rounds interleaved with JAX's so that both see the same machine load
(each round starts after a short pause and one untimed step, so neither
framework's spinning worker threads slow the other's round).

    python -m benchmarks.bench_child --out=/tmp/bench_child.json
    python -m benchmarks.bench_child --smoke --out=/tmp/bench_child_smoke.json

With ``--batched``: children per hour, compilation included, of K random
architectures of the default and the cifar10 spaces trained with the
config's proxy budget, together in one program (:mod:`cosearch.child.batched`)
against one program per architecture (:class:`cosearch.child.train.Trainer`), in
the same run, each path with fresh compile caches:

    python -m benchmarks.bench_child --batched --counts=1,4,16,64 \
        --out=/tmp/bench_child_batched.json

The default space trains on the embedded data; the cifar10 space on random
32x32x3 images of 10 classes (the timing depends only on the shapes).

With ``--proxy``: children per hour of the search's own proxy training,
JAX against PyTorch, compile included (:mod:`benchmarks.child_proxy`):

    python -m benchmarks.bench_child --proxy --num_archs=8 --arch_seed=123 \
        --out=/tmp/bench_child_proxy.json
"""

from __future__ import annotations

import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from benchmarks import RELEASED_6, child_proxy
from benchmarks.machine import timed
from benchmarks.torch_peer import torch_stepper, torch_version
from cosearch import data as data_lib
from cosearch.child.batched import BatchedTrainer
from cosearch.child.network import as_layers
from cosearch.child.train import TrainConfig, Trainer
from cosearch.hardware.architecture import Architecture
from experiments import common
from experiments.configs import cifar10 as cifar10_config
from experiments.configs import default as default_config

_ARCH = flags.DEFINE_string("arch", RELEASED_6, "layers 'k,f,s;k,f,s;...'")
_SHAPES = flags.DEFINE_list("shapes", ["28x28x1", "32x32x3"], "input HxWxC list")
_BATCH = flags.DEFINE_integer("batch", 64, "images per training step")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "interleaved timing rounds")
_STEPS = flags.DEFINE_integer("steps_per_round", 4, "timed steps per round")
_GRAD = flags.DEFINE_string("grad_impl", "auto", "conv gradient: auto|im2col|xla")
_TORCH = flags.DEFINE_bool("torch", True, "measure the PyTorch peer if installed")
_SMOKE = flags.DEFINE_bool("smoke", False, "tiny run for tests")
_OUT = flags.DEFINE_string("out", None, "write the JSON here")
_PROXY = flags.DEFINE_bool(
    "proxy",
    False,
    "children per hour of the search's proxy training, JAX vs PyTorch "
    "(benchmarks/child_proxy.py)",
)
_BATCHED = flags.DEFINE_bool(
    "batched", False, "children per hour: batched program vs one per architecture"
)
_COUNTS = flags.DEFINE_list("counts", ["1", "4", "16", "64"], "children K per run")
_SPACES = flags.DEFINE_list("spaces", ["default", "cifar10"], "config spaces")
_TRAIN_STEPS = flags.DEFINE_integer(
    "train_steps", 0, "optimizer steps per child (0: the config's proxy budget)"
)
_VAL_IMAGES = flags.DEFINE_integer(
    "val_images", 0, "with --batched: validation images per child (0: the whole split)"
)

NUM_CLASSES = 10
LEARNING_RATE = 0.01
MOMENTUM = 0.9


def jax_stepper(layers, shape, batch, grad_impl):
    """(step(), compile seconds): one blocking JAX training step on fixed data."""
    config = TrainConfig(
        steps=1,
        batch_size=batch,
        learning_rate=LEARNING_RATE,
        momentum=MOMENTUM,
        schedule="constant",
        weight_decay=0.0,
        eval_batch_size=batch,
        grad_impl=grad_impl,
    )
    programs, compile_s = Trainer().programs(layers, shape, NUM_CLASSES, config, 1)
    data_key, init_key = jax.random.split(jax.random.key(0))
    x = jax.random.normal(data_key, (batch, *shape), jnp.float32)
    y = jnp.arange(batch, dtype=jnp.int32) % NUM_CLASSES
    state = list(programs.init(init_key))

    def step():
        out = programs.step(*state, x, y)
        jax.block_until_ready(out)
        state[:] = out[:3]

    return step, compile_s


def bench_shape(layers, shape, batch, rounds, steps, grad_impl, use_torch):
    """Figures for one input shape (see module doc)."""
    jstep, compile_s = jax_stepper(layers, shape, batch, grad_impl)
    tstep = None
    if use_torch:
        tstep = torch_stepper(
            layers, shape, batch, LEARNING_RATE, MOMENTUM, NUM_CLASSES
        )
    warm = 2
    timed(jstep, warm)
    if tstep is not None:
        timed(tstep, warm)
    jt, tt = [], []
    for _ in range(rounds):
        jt += timed(jstep, steps)
        if tstep is not None:
            tt += timed(tstep, steps)
    j_ms = statistics.median(jt) * 1e3
    res = {
        "input_shape": list(shape),
        "batch": batch,
        "compile_s": compile_s,
        "jax_step_ms": j_ms,
        "jax_images_per_s": batch / j_ms * 1e3,
        "torch_step_ms": None,
        "torch_images_per_s": None,
        "ratio": None,
    }
    if tstep is not None:
        t_ms = statistics.median(tt) * 1e3
        res["torch_step_ms"] = t_ms
        res["torch_images_per_s"] = batch / t_ms * 1e3
        res["ratio"] = res["jax_images_per_s"] / res["torch_images_per_s"]
    return res


SPACE_CONFIGS = {"default": default_config, "cifar10": cifar10_config}


def random_archs(space, count: int, seed: int) -> list[Architecture]:
    """``count`` architectures drawn uniformly from a config's ``space``."""
    rng = np.random.default_rng(seed)
    return [
        Architecture(
            tuple(
                (
                    int(rng.choice(space.kernels)),
                    int(rng.choice(space.filters)),
                    int(rng.choice(space.strides)),
                )
                for _ in range(int(space.depth))
            )
        )
        for _ in range(count)
    ]


def timing_dataset(name: str) -> data_lib.Dataset:
    """The data a space's children train on in this benchmark."""
    if name == "default":
        return data_lib.load("embedded")
    rng = np.random.default_rng(0)

    def split(n):
        x = rng.standard_normal((n, 32, 32, 3)).astype(np.float32)
        return data_lib.Split(x, rng.integers(0, 10, n).astype(np.int32))

    shape = (32, 32, 3)
    return data_lib.Dataset("random", split(2560), split(1000), split(10), 10, shape)


def bench_batched(
    name: str, counts, steps: int, smoke: bool, val_images: int = 0
) -> dict:
    """Children per hour of both paths for each K in ``counts``."""
    cfg = SPACE_CONFIGS[name].get_config()
    space, train = cfg.space, cfg.train
    if smoke:
        space.depth, space.kernels, space.filters = 2, (1, 3), (4, 8)
    dataset = timing_dataset("cifar10" if smoke else name)
    if val_images:
        val = dataset.val
        dataset = dataset._replace(
            val=data_lib.Split(val.images[:val_images], val.labels[:val_images])
        )
    budget = TrainConfig(
        steps=steps or (int(train.steps) or None),
        epochs=int(train.epochs),
        batch_size=int(train.batch_size),
        learning_rate=float(train.learning_rate),
        momentum=float(train.momentum),
        head_lr_scale=float(train.head_lr_scale),
        eval_batch_size=int(train.eval_batch_size),
    )
    kmax, cmax = max(space.kernels), max(space.filters)
    rows = {}
    for k in counts:
        # One stride pattern: the batched program trains one pattern at a time.
        archs = [
            Architecture(tuple((kk, f, 1) for kk, f, _ in a.layers))
            for a in random_archs(space, k, seed=k)
        ]
        keys = [jax.random.key(i) for i in range(k)]
        t0 = time.perf_counter()
        batched_trainer = BatchedTrainer(kmax, cmax)
        together = batched_trainer.train(archs, dataset, budget, keys)
        batched_s = time.perf_counter() - t0
        trainer = Trainer()
        t0 = time.perf_counter()
        alone = [
            trainer.train(a, dataset, budget, key)
            for a, key in zip(archs, keys, strict=True)
        ]
        alone_s = time.perf_counter() - t0
        rows[str(k)] = {
            "children": k,
            "batched_s": batched_s,
            "batched_compile_s": together[0].compile_s,
            "batched_step_bytes": batched_trainer.step_bytes(),
            "per_arch_s": alone_s,
            "per_arch_compile_s": sum(r.compile_s for r in alone),
            "batched_children_per_hour": 3600.0 * k / batched_s,
            "per_arch_children_per_hour": 3600.0 * k / alone_s,
            "speedup": alone_s / batched_s,
            "max_accuracy_diff": max(
                abs(a.val_accuracy - b.val_accuracy)
                for a, b in zip(together, alone, strict=True)
            ),
            "max_loss_rel_diff": max(
                float(
                    np.max(
                        np.abs(np.subtract(a.loss_curve, b.loss_curve))
                        / np.maximum(np.abs(b.loss_curve), 1e-12)
                    )
                )
                for a, b in zip(together, alone, strict=True)
            ),
        }
        print(f"{name} K={k}: {rows[str(k)]}", flush=True)
    return {
        "depth": int(space.depth),
        "kernels": list(space.kernels),
        "filters": list(space.filters),
        "input_shape": list(dataset.input_shape),
        "val_images": len(dataset.val.labels),
        "steps_per_child": budget.total_steps(len(dataset.train)),
        "batch_size": budget.batch_size,
        "counts": rows,
    }


def main_batched() -> None:
    counts = common.parse_int_list(_COUNTS.value, "--counts")
    if _SMOKE.value:
        counts, spaces, steps = [1, 2], ["default"], 2
    else:
        spaces, steps = _SPACES.value, _TRAIN_STEPS.value
    unknown = [s for s in spaces if s not in SPACE_CONFIGS]
    val_images = _VAL_IMAGES.value
    if unknown or any(k < 1 for k in counts) or steps < 0 or val_images < 0:
        raise common.UsageError(
            f"--spaces from {sorted(SPACE_CONFIGS)}, --counts >= 1, --train_steps "
            ">= 0, --val_images >= 0"
        )
    result = {
        "benchmark": "bench_child_batched",
        "smoke": _SMOKE.value,
        "spaces": {
            s: bench_batched(s, counts, steps, _SMOKE.value, val_images) for s in spaces
        },
        "load_avg_1min": os.getloadavg()[0],
        **common.environment(),
    }
    common.write_benchmark(result, _OUT.value)


def warm_steps() -> dict:
    """The warm-step figures of the flags' design and shapes (module doc)."""
    arch = Architecture.parse(_ARCH.value)
    shapes = [common.parse_ints(s, "--shapes", 3) for s in _SHAPES.value]
    batch, rounds, steps = _BATCH.value, _ROUNDS.value, _STEPS.value
    if _SMOKE.value:
        arch = Architecture.parse("3,8,1;1,8,2")
        shapes, batch, rounds, steps = [(8, 8, 1)], 4, 1, 2
    if batch < 1 or rounds < 1 or steps < 1:
        raise common.UsageError("--batch, --rounds, --steps_per_round must be >= 1")
    layers = as_layers(arch)
    version = torch_version() if _TORCH.value else None
    per_shape = {
        "x".join(map(str, s)): bench_shape(
            layers, s, batch, rounds, steps, _GRAD.value, version is not None
        )
        for s in shapes
    }
    first = next(iter(per_shape.values()))
    result = {
        "benchmark": "bench_child",
        "arch": str(arch),
        "grad_impl": _GRAD.value,
        "smoke": _SMOKE.value,
        "torch_version": version,
        "torch_threads": os.cpu_count(),
        "shapes": per_shape,
        # Headline: the first shape (28x28x1 by default).
        "jax_images_per_s": first["jax_images_per_s"],
        "torch_images_per_s": first["torch_images_per_s"],
        "ratio": first["ratio"],
        "compile_s": first["compile_s"],
        "load_avg_1min": os.getloadavg()[0],
        **common.environment(),
    }
    return result


def main(argv):
    del argv
    if _PROXY.value:
        child_proxy.main(_SMOKE.value, _TORCH.value, warm_steps, _OUT.value)
    elif _BATCHED.value:
        main_batched()
    else:
        common.write_benchmark(warm_steps(), _OUT.value)


if __name__ == "__main__":
    common.run(main, compile_cache=False)
