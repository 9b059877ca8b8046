"""Successive halving of an episode's survivors (docs/design.md section 7.6):
many children at short budgets, the best promoted, the last rung the
search's proxy training.

With ``search.rung_steps = (b_0, ..., b_{R-1})`` and ``search.halving_rate``
eta, an episode that may train ``c`` children at the proxy budget first
trains ``c eta^R`` of its survivors (in its order: expected reward for
coexplore and random_screen, sampling order for random) for ``b_0`` steps,
keeps the best ``c eta^(R-1)`` by ``search.rung_measure``, trains those for
``b_1`` steps, and so on; the last ``c`` are trained with the proxy budget
and enter the accuracy cache as any child. A rung training restarts from
the child's initialisation with its own, shorter schedule and a key stream
of its own; it counts in the compute (``train_images``) and is recorded in
the proposal's history record (``rungs``), not in the accuracy cache.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax

from cosearch.hardware.architecture import Architecture
from cosearch.search.episode import Context
from cosearch.search.settings import Halving
from cosearch.search.training import fan_out

# Folded with the rung index into the episode's training key: rung trainings
# draw from streams of their own.
RUNG_STREAM = 0x52554E47


def _rank_value(res: dict[str, Any], measure: str) -> float:
    """Larger is better; a failed child ranks last."""
    if res["failed"] or not math.isfinite(res["loss_sum"]):
        return -math.inf
    return res["accuracy"] if measure == "accuracy" else -res["loss_sum"]


def run_rungs(
    ctx: Context,
    archs: list[Architecture],
    candidates: list[int],
    children: int,
    key: jax.Array,
    halving: Halving,
) -> tuple[list[int], dict[int, dict[str, Any]], int]:
    """The rungs below the proxy over ``candidates`` (in order of preference).

    Args:
      ctx: the episode's context.
      archs: the episode's proposals.
      candidates: proposal indices the lowest rung trains (ties of the rung
        measure keep their order).
      children: how many the last rung keeps for the proxy training.
      key: the episode's training key (not consumed: rung ``r`` folds
        ``RUNG_STREAM + r`` into it).
      halving: the rungs.

    Returns:
      (the proposals promoted to the proxy training, in index order; per
      proposal trained at a rung, ``{steps: {"accuracy", "loss_sum",
      "failed"}}``; the training images the rungs spent).
    """
    jobs = list(candidates)
    rungs: dict[int, dict[str, Any]] = {i: {} for i in jobs}
    images = 0
    total = len(halving.rung_steps)
    for r, steps in enumerate(halving.rung_steps):
        config = dataclasses.replace(ctx.setup.train_config, steps=steps)
        results = fan_out(
            ctx, archs, jobs, jax.random.fold_in(key, RUNG_STREAM + r), config
        )
        for i, res in zip(jobs, results, strict=True):
            rungs[i][str(steps)] = {
                "accuracy": res["accuracy"],
                "loss_sum": res["loss_sum"],
                "failed": res["failed"],
            }
            images += int(res["train_images"])
        keep = min(len(jobs), children * halving.rate ** (total - r - 1))
        value = {
            i: _rank_value(res, halving.measure)
            for i, res in zip(jobs, results, strict=True)
        }
        # Best first; ties keep the order of preference.
        ranked = sorted(jobs, key=lambda i: -value[i])
        promoted = ranked[:keep]
        ctx.log(
            f"  rung {r + 1}/{total}: {len(jobs)} children x {steps} steps, "
            f"{keep} promoted by {halving.measure}: "
            + ", ".join(f"{i} ({value[i]:.4g})" for i in promoted)
        )
        jobs = [i for i in candidates if i in set(promoted)]
    return sorted(jobs), rungs, images
