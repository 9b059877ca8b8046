"""Children trained for an episode: dealt over every device and process,
one training budget, results gathered in episode order.

:func:`fan_out` trains a list of an episode's proposals with a given budget
and returns a record per child (the successive-halving rungs of
:mod:`cosearch.search.halving` use it with their short budgets);
:func:`train` trains the proxy budget, keeps every result in the search's
accuracy cache and gives every alive proposal its status.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from cosearch.child import batches as child_batches
from cosearch.child.train_steps import TrainConfig
from cosearch.hardware.architecture import Architecture
from cosearch.search.episode import Context
from cosearch.search.journal import training_name


@dataclasses.dataclass(frozen=True)
class Trained:
    """The proposals of an episode after its trainings.

    Attributes:
      accuracy: ``[B]`` float64 validation accuracy, NaN where unknown.
      status: per proposal: "trained", "failed", "cached" (alive, measured
        before), "survived" (alive, not trained) or "pruned" (not alive).
      train_s: per proposal, seconds spent training it.
      count: children trained.
      train_images: their training compute (steps run x batch size).
    """

    accuracy: np.ndarray
    status: list[str]
    train_s: list[float]
    count: int
    train_images: int = 0


def fan_out(
    ctx: Context,
    archs: list[Architecture],
    jobs: list[int],
    key: jax.Array,
    config: TrainConfig,
) -> list[dict[str, Any]]:
    """Train proposals ``jobs`` with ``config``, over every device and process
    of ``ctx.runtime``; child ``i`` with key ``fold_in(key, i)``. A training
    ``ctx.journal`` holds from before a restart is not run again; every
    other is added to it as it ends.

    Returns:
      Per job, in order: ``accuracy`` (0 if failed), ``failed``, ``reason``,
      ``wall_s``, ``train_images`` (steps run x batch) and ``loss_sum`` (the
      sum of its training losses).
    """
    s = ctx.setup
    keys = {i: jax.random.fold_in(key, i) for i in jobs}
    journal = ctx.journal
    names = {}
    done: dict[int, dict[str, Any]] = {}
    if journal is not None:
        # Trainings finished before a restart are not run again.
        names = {i: training_name(str(archs[i]), config, keys[i]) for i in jobs}
        done = {i: r for i in jobs if (r := journal.lookup(names[i])) is not None}

    def record(i: int, res) -> dict[str, Any]:
        out = {
            "accuracy": 0.0 if res.failed else float(res.val_accuracy),
            "failed": bool(res.failed),
            "reason": res.reason,
            "wall_s": res.wall_s,
            "train_images": int(res.steps) * config.batch_size,
            "loss_sum": float(np.sum(res.loss_curve)),
        }
        if journal is not None:
            journal.add(names[i], out)
        return out

    def train_one(i: int, device) -> dict[str, Any]:
        return record(
            i, ctx.trainer.train(archs[i], s.dataset, config, keys[i], device)
        )

    def train_together(chunk: tuple[int, ...], devices) -> dict[str, Any]:
        results = ctx.batched.train(
            [archs[i] for i in chunk],
            s.dataset,
            config,
            [keys[i] for i in chunk],
            devices,
        )
        # wall_s: each child's share of its program's run.
        return {"children": [record(i, r) for i, r in zip(chunk, results, strict=True)]}

    todo = [i for i in jobs if i not in done]
    # Every process must deal out the same children (checked by the gather).
    check = ";".join(f"{i}:{archs[i]}" for i in todo)
    by_child = dict(done)
    if ctx.batched is not None and todo:
        together = [i for i in todo if ctx.batched.supports(archs[i])]
        alone = [i for i in todo if i not in together]
        rt = ctx.runtime
        dealt = child_batches.deal(archs, together, len(rt.devices), rt.process_count)
        # The batches too must be the same on every process.
        for chunks, run in (
            (dealt.split, rt.map_process_jobs),
            (dealt.single, rt.map_jobs),
        ):
            out = (
                run(train_together, chunks, check=f"{check}|{dealt}") if chunks else []
            )
            for chunk, res in zip(chunks, out, strict=True):
                by_child.update(zip(chunk, res["children"], strict=True))
        if alone:
            single = ctx.runtime.map_jobs(train_one, alone, check=check)
            by_child.update(zip(alone, single, strict=True))
    elif todo:
        by_child.update(
            zip(todo, ctx.runtime.map_jobs(train_one, todo, check=check), strict=True)
        )
    return [by_child[i] for i in jobs]


def train(
    ctx: Context, archs: list[Architecture], alive: np.ndarray, jobs, key
) -> Trained:
    """Trains ``jobs`` and looks up the other alive proposals in the cache.

    Child ``i`` is trained with key ``fold_in(key, i)``, over every device
    and process of ``ctx.runtime``; its accuracy goes into the cache.
    """
    acc = np.full(len(archs), np.nan)
    status = ["pruned"] * len(archs)
    secs = [0.0] * len(archs)
    results = fan_out(ctx, archs, jobs, key, ctx.setup.train_config)
    for i, res in zip(jobs, results, strict=True):
        name = str(archs[i])
        ctx.cache[name] = {k: res[k] for k in ("accuracy", "failed", "reason")}
        status[i] = "failed" if res["failed"] else "trained"
        secs[i] = res["wall_s"]
        ctx.log(
            f"  child {i}: {name} -> "
            + (
                f"failed ({res['reason']})"
                if res["failed"]
                else f"{res['accuracy']:.4f}"
            )
            + f" in {res['wall_s']:.1f}s"
        )
    for i, arch in enumerate(archs):
        if not alive[i]:
            continue
        hit = ctx.cache.get(str(arch))
        if hit is None:
            status[i] = "survived"
            continue
        if i not in jobs:
            status[i] = "failed" if hit["failed"] else "cached"
        acc[i] = hit["accuracy"]
    images = sum(int(res["train_images"]) for res in results)
    return Trained(acc, status, secs, len(jobs), images)
