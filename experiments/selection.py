"""Which architecture a child-training rule picks at a fixed compute, judged
by a reference set: the fixed proxy against successive halving, replayed
from measured trainings (nothing is trained here).

A proxy run of ``experiments.proxy_fidelity --eval_steps`` holds, for one
architecture and seed, its validation accuracy after some steps (the rungs)
and at its end (the proxy's ``B`` steps), and its training losses. Every
value a rule reads is such a measured one, so a replay is what a search
with that rule would have seen. A rule spends ``C`` optimizer steps:

- ``proxy``: ``C // B`` architectures trained at the proxy budget, the best
  by its end accuracy picked (the search without halving);
- ``halving``: ``k = C // (B + rate * b)`` children at the proxy;
  ``rate * k`` architectures trained for ``b`` steps first, the best ``k``
  by the rung's measure promoted, the best of those by the proxy picked
  (:mod:`cosearch.search.halving` with one rung);
- ``rung``: ``C // b`` architectures trained for ``b`` steps, the best by the
  rung's measure picked (no proxy training at all);
- ``reseed``: ``C // B - r`` architectures trained at the proxy with one
  seed, the best ``r`` of them by it trained again with another seed, the
  best of those by the mean of their two seeds picked (the proxy's noise
  spent at the top, where the pick is made).

A rung's measure is read part-way off the proxy's own run (``accuracy``,
``loss_sum``: the proxy's schedule still running, as ASHA continues a run),
or from runs of ``b`` steps with their own schedule (``restart_accuracy``,
``restart_loss_sum``: how :mod:`cosearch.search.halving` trains a rung).

Each draw takes its architectures uniformly without replacement from the
pool (the architectures both the reference set and the proxy runs hold) and
one proxy seed; the pick is judged by its reference accuracy: the mean over
draws with its spread, its percentile in the pool, and the share of draws
that pick one of the pool's top 10%. A rule that would train more
architectures than the pool holds trains the whole pool (``capped``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

MEASURES = ("accuracy", "loss_sum")
# A rung trained as a run of its own (its own short schedule, as
# cosearch.search.halving trains it), not read part-way off the proxy's run.
RESTART = "restart_"


def measures(
    runs: Sequence[dict[str, Any]], num_archs: int, seeds: Sequence[int]
) -> tuple[dict[str, np.ndarray], int]:
    """The values proxy runs give, by ``"<measure>@<steps>"``, each ``[A, S]``
    (larger is better: ``loss_sum`` is the negated sum of the training
    losses up to that step; NaN where not measured), and the proxy's steps.

    ``accuracy@b`` is the validation accuracy after ``b`` steps (a run's
    ``early`` list; at the proxy's own steps, its end accuracy).
    """
    full = max((len(r.get("loss_curve") or []) for r in runs), default=0)
    steps = sorted({int(s) for r in runs for s, _ in r.get("early", [])} | {full})
    col = {int(s): j for j, s in enumerate(seeds)}
    out = {
        f"{m}@{b}": np.full((num_archs, len(seeds)), np.nan)
        for m in MEASURES
        for b in steps
    }
    for r in runs:
        a, s = r["arch_index"], col[int(r["seed"])]
        early = {int(b): float(acc) for b, acc in r.get("early", [])}
        early[full] = 0.0 if r["failed"] else float(r["val_accuracy"])
        curve = np.asarray(r.get("loss_curve") or [], np.float64)
        for b in steps:
            if b in early:
                out[f"accuracy@{b}"][a, s] = early[b]
            if len(curve) >= b:
                total = float(np.sum(curve[:b]))
                out[f"loss_sum@{b}"][a, s] = -total if math.isfinite(total) else -np.inf
    return out, full


def restart_measures(
    runs: Sequence[dict[str, Any]], num_archs: int, seeds: Sequence[int], steps: int
) -> dict[str, np.ndarray]:
    """``restart_accuracy@b`` and ``restart_loss_sum@b`` (``[A, S]``) of runs
    that trained ``b = steps`` steps with their own schedule (a
    ``proxy_fidelity --variants=steps=b`` result): their end accuracy and
    the negated sum of their training losses."""
    col = {int(s): j for j, s in enumerate(seeds)}
    acc = np.full((num_archs, len(seeds)), np.nan)
    loss = np.full((num_archs, len(seeds)), np.nan)
    for r in runs:
        a, s = r["arch_index"], col[int(r["seed"])]
        acc[a, s] = 0.0 if r["failed"] else float(r["val_accuracy"])
        total = float(np.sum(r.get("loss_curve") or [np.inf]))
        loss[a, s] = -total if math.isfinite(total) else -np.inf
    return {
        f"{RESTART}accuracy@{steps}": acc,
        f"{RESTART}loss_sum@{steps}": loss,
    }


@dataclasses.dataclass(frozen=True)
class Rule:
    """A way to spend child-training compute on a pool of architectures.

    Attributes:
      kind: "proxy", "halving", "rung" or "reseed" (module docstring).
      steps: the rung's budget ``b`` (halving, rung); the proxy's for proxy
        and reseed.
      measure: what ranks the rung ("accuracy" or "loss_sum").
      rate: halving's eta (children at the rung per child at the proxy);
        reseed's ``r`` (children trained with a second seed).
    """

    kind: str
    steps: int
    measure: str = "accuracy"
    rate: int = 1

    @property
    def name(self) -> str:
        if self.kind == "proxy":
            return f"proxy {self.steps}"
        if self.kind == "rung":
            return f"rung {self.steps} ({self.measure})"
        if self.kind == "reseed":
            return f"proxy {self.steps}, best {self.rate} reseeded"
        return f"halving {self.steps}x{self.rate} ({self.measure})"

    def trained(self, budget: int, proxy_steps: int) -> tuple[int, int]:
        """(architectures trained at the rung or proxy first, children at the
        proxy) that ``budget`` steps buy (0 when it buys none)."""
        if self.kind == "proxy":
            n = budget // proxy_steps
            return n, n
        if self.kind == "rung":
            return budget // self.steps, 0
        if self.kind == "reseed":
            n = budget // proxy_steps - self.rate
            return (n, self.rate) if n >= self.rate else (0, 0)
        k = budget // (proxy_steps + self.rate * self.steps)
        return self.rate * k, k


def pick(
    rule: Rule,
    candidates: np.ndarray,
    values: dict[str, np.ndarray],
    seed: int,
    promote: int,
    proxy_steps: int,
) -> int:
    """The architecture ``rule`` picks among ``candidates`` (in draw order;
    ties go to the earlier) with proxy seed column ``seed``, promoting
    ``promote`` children to the proxy (halving) or to a second seed, the
    next column (reseed)."""
    table = values[f"accuracy@{proxy_steps}"]
    final = table[:, seed]
    if rule.kind == "proxy":
        return int(candidates[_best_first(final[candidates])[0]])
    if rule.kind == "reseed":
        top = candidates[_best_first(final[candidates])[:promote]]
        second = table[top, (seed + 1) % table.shape[1]]
        return int(top[_best_first((final[top] + second) / 2)[0]])
    rung = values[f"{rule.measure}@{rule.steps}"][:, seed]
    order = _best_first(rung[candidates])
    if rule.kind == "rung":
        return int(candidates[order[0]])
    promoted = candidates[np.sort(order[:promote])]
    return int(promoted[_best_first(final[promoted])[0]])


def _best_first(values: np.ndarray) -> np.ndarray:
    """Indices from the largest value down (NaN last, ties in order)."""
    return np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")


def replay(
    rule: Rule,
    budget: int,
    values: dict[str, np.ndarray],
    proxy_steps: int,
    reference: np.ndarray,
    pool: np.ndarray,
    draws: int,
    rng: np.random.Generator,
) -> dict[str, Any] | None:
    """``draws`` replays of ``rule`` with ``budget`` steps (None: the budget
    buys no pick).

    Args:
      values: :func:`measures`' output.
      reference: ``[A]`` reference (final test) accuracy, NaN outside the set.
      pool: indices of the architectures a draw may take.
    """
    first, promote = rule.trained(budget, proxy_steps)
    if first < 1 or (rule.kind in ("halving", "reseed") and promote < 1):
        return None
    n = min(first, len(pool))
    seeds = values[f"accuracy@{proxy_steps}"].shape[1]
    ranked = np.sort(reference[pool])
    top = ranked[-max(1, int(round(0.1 * len(pool))))]
    picked = np.empty(draws)
    for d in range(draws):
        candidates = rng.choice(pool, n, replace=False)
        seed = int(rng.integers(seeds))
        picked[d] = reference[
            pick(rule, candidates, values, seed, min(promote, n), proxy_steps)
        ]
    below = np.searchsorted(ranked, picked, side="left")
    equal = np.searchsorted(ranked, picked, side="right") - below
    return {
        "rule": rule.name,
        "budget_steps": budget,
        "trained_first": n,
        "proxy_children": {"rung": 0, "proxy": n, "reseed": n + min(promote, n)}.get(
            rule.kind, min(promote, n)
        ),
        "capped": first > len(pool),
        "accuracy_mean": float(np.mean(picked)),
        "accuracy_std": float(np.std(picked)),
        "percentile_mean": float(np.mean((below + 0.5 * equal) / len(pool))),
        "top10_share": float(np.mean(picked >= top)),
        "draws": draws,
    }


def ranking(
    values: dict[str, np.ndarray], reference_set, batch_size: int
) -> dict[str, dict[str, Any]]:
    """Per measured value: how it ranks the reference set, by one seed
    (the mean over seeds of tau and top-10% hits) and by the seed mean, and
    the compute it spends per ranked architecture and seed."""
    out = {}
    for name, table in values.items():
        if np.isnan(table).all():
            continue
        steps = int(name.split("@")[1])
        finite = np.where(np.isfinite(table), table, np.nan)
        per_seed = [reference_set.tau(finite[:, j]) for j in range(table.shape[1])]
        hits = [reference_set.top_hits(finite[:, j]) for j in range(table.shape[1])]
        with warnings.catch_warnings():  # architectures never measured: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(finite, axis=1)
        out[name] = {
            "steps": steps,
            "images_per_architecture": steps * batch_size,
            "tau_one_seed": float(np.nanmean(per_seed)),
            "tau_per_seed": per_seed,
            "tau_seed_mean": reference_set.tau(mean),
            "top10_hits_one_seed": float(np.nanmean(hits)),
        }
    return out
