"""Final training one run after another against runs at once in threads.

Trains the final runs of the given architectures (``final.seeds`` each, on
the final data: training and validation images, scored on the test split)
through the final phase's own :func:`cosearch.final.runner.finalize`, once
for each ``--workers`` value (``final.parallel_runs``), each into an empty
store, and records the wall time of each, the runs' accuracies and whether
they are the same at every worker count (they must be). The programs are
compiled before the timed rounds (the compile seconds are recorded apart),
so a round times what the final phase does besides compiling: the
training, the scoring on the test split and the saving of the weights.
Run it with nothing else on the machine; rounds go in the order of
``--workers``, repeated ``--rounds`` times (alternating, so that a drift of
the machine hits both).

    python -m benchmarks.bench_final_runs --steps=100 \
        --out=experiments/results/final_runs_cpu.json
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from absl import flags
from ml_collections import config_flags

from cosearch.child.network import as_layers
from cosearch.child.train import Trainer
from cosearch.errors import UserError
from cosearch.final.runner import finalize
from cosearch.final.settings import final_task
from cosearch.final.store import FinalStore
from cosearch.hardware.architecture import Architecture
from cosearch.search.setup import build
from experiments import common

# Seed 1's coexplore OptSW in the verdict (experiments/results/verdict_default):
# 59 MMACs per image, a design the default search finalizes.
ARCHITECTURE = "3,36,1;3,48,1;3,64,1;3,24,1;3,48,1;3,64,1"

_CONFIG = config_flags.DEFINE_config_file(
    "config", "experiments/configs/default.py", "The config (its final.* and data)."
)
_ARCHS = flags.DEFINE_multi_string(
    "architecture", [ARCHITECTURE], "Architectures to final-train (repeatable)."
)
_STEPS = flags.DEFINE_integer(
    "steps", None, "Optimizer steps per run (default: the config's final.steps)."
)
_WORKERS = flags.DEFINE_list("workers", ["1", "2"], "final.parallel_runs values.")
_ROUNDS = flags.DEFINE_integer("rounds", 1, "Timed rounds of each worker count.")
_OUT = flags.DEFINE_string("out", None, "The benchmark JSON.")


def _records(store: FinalStore) -> list[tuple[str, int, float]]:
    return sorted(
        (r["architecture"], r["seed"], r["test_accuracy"]) for r in store.runs()
    )


def main(argv: Sequence[str]) -> None:
    common.require(argv, out=_OUT.value)
    workers = common.parse_int_list(_WORKERS.value, "--workers")
    if min(workers) < 1 or _ROUNDS.value < 1:
        raise UserError("--workers values and --rounds must be >= 1")
    if _STEPS.value is not None and _STEPS.value < 1:
        raise UserError(f"--steps must be >= 1, got {_STEPS.value}")
    archs = [Architecture.parse(a) for a in _ARCHS.value]
    setup = build(_CONFIG.value)
    train = setup.final.train
    if _STEPS.value is not None:
        train = dataclasses.replace(train, steps=_STEPS.value)
    task = final_task(setup.dataset)
    steps = train.total_steps(len(task.train))
    designs = [("bench", {"architecture": str(a)}) for a in archs]
    runs = len(archs) * setup.final.seeds
    print(
        f"final runs: {runs} run(s) of {steps} steps ({len(archs)} architecture(s) "
        f"x {setup.final.seeds} seeds) on {len(task.train):,} images, at "
        f"{', '.join(map(str, workers))} at once, {_ROUNDS.value} round(s)",
        flush=True,
    )
    trainer = Trainer()
    t0 = time.perf_counter()
    for a in archs:  # compiled once, outside the timed rounds
        trainer.programs(as_layers(a), task.input_shape, task.num_classes, train, steps)
    compile_s = time.perf_counter() - t0
    print(f"compiled in {compile_s:.1f} s", flush=True)

    order = [
        w for r in range(_ROUNDS.value) for w in (workers[::-1] if r % 2 else workers)
    ]
    walls: dict[int, list[float]] = {w: [] for w in workers}
    records: dict[int, list[tuple[str, int, float]]] = {}
    for i, w in enumerate(order):
        final = dataclasses.replace(setup.final, train=train, parallel_runs=w)
        with tempfile.TemporaryDirectory() as folder:
            store = FinalStore(folder)
            t = time.perf_counter()
            finalize(final, setup.dataset, store, designs, trainer, log=print)
            walls[w].append(time.perf_counter() - t)
            got = _records(store)
        if records.setdefault(w, got) != got:
            raise RuntimeError(f"{w} at once: the accuracies changed between rounds")
        done = sum(len(v) for v in walls.values())
        left = statistics.median([v for vs in walls.values() for v in vs]) * (
            len(order) - done
        )
        print(
            f"round {i + 1}/{len(order)}: {w} at once: {walls[w][-1]:.1f} s "
            f"| ETA {left / 60:.1f} min",
            flush=True,
        )
    base = statistics.median(walls[workers[0]])
    result: dict[str, Any] = {
        "data": setup.dataset.name,
        "architectures": [str(a) for a in archs],
        "seeds": setup.final.seeds,
        "steps": steps,
        "batch_size": train.batch_size,
        "train_images": len(task.train),
        "compile_s": compile_s,
        "rounds": _ROUNDS.value,
        "wall_s": {str(w): walls[w] for w in workers},
        "median_wall_s": {str(w): statistics.median(walls[w]) for w in workers},
        "speedup_vs_first": {
            str(w): base / statistics.median(walls[w]) for w in workers
        },
        "same_accuracies": all(records[w] == records[workers[0]] for w in workers),
        "accuracies": [
            {"architecture": a, "seed": s, "test_accuracy": acc}
            for a, s, acc in records[workers[0]]
        ],
        "environment": common.environment(),
    }
    common.write_benchmark(result, _OUT.value)
    print(
        "median wall: "
        + ", ".join(
            f"{w} at once {result['median_wall_s'][str(w)]:.1f} s "
            f"({result['speedup_vs_first'][str(w)]:.2f}x)"
            for w in workers
        )
        + f"; same accuracies: {result['same_accuracies']}",
        flush=True,
    )


if __name__ == "__main__":
    common.run(main, compile_cache=False)
