"""The aims of a five-seed comparison on final test accuracy
(experiments.verdict's checks, flag-free so that tests and other launchers
import them): each aim with the figures it rests on, seed by seed, and
whether it is met. See experiments/verdict.py for the list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from experiments.common import UsageError

# The aims' thresholds.
TOP = 0.9  # percentile of the reference set's top 10%
SEEDS_OF_5 = 4 / 5  # "in at least 4 of 5 seeds"
FPS_GAIN, GOPS_GAIN = 0.35, 0.54  # over hw_aware
COMPUTE_SHARE = 1 / 3  # of hw_aware's child-training compute


@dataclasses.dataclass(frozen=True)
class Aim:
    """One aim: what it asks, the figures it rests on, and whether it is met
    (None: not measured)."""

    what: str
    figures: str
    met: bool | None


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _values(runs: Mapping[str, Mapping[str, Any]], name: str, key: str):
    """``{seed: value}`` of a measure of one strategy (None values left out)."""
    return {
        int(seed): f[key]
        for seed, f in runs.get(name, {}).items()
        if f.get(key) is not None
    }


# What each aim asks, in the order aims() returns them.
ABOVE_RANDOM = "mean OptSW final accuracy above random's by more than the tie margin"
NO_SEED_LOST = "no seed lost to random by more than the margin"
NOT_BELOW_SCREEN = "not below random_screen (a tie acceptable)"
TOP_10 = "OptSW in the reference set's top 10% in at least 4 of 5 seeds"
HYPERVOLUME = "final-accuracy hypervolume ahead of random in at least 4 of 5 seeds"
AGAINST_HW_AWARE = (
    "against hw_aware: its final accuracy or better (tie allowed) at >= +35% "
    "images/s and >= +54% GOPS/W, with at most a third of its compute"
)


def aims(comparison: Mapping[str, Any]) -> list[Aim]:
    """The six aims of experiments/verdict.py, from a comparison.json; an
    aim whose strategies or measures are missing is not measured."""
    runs = comparison["runs"]
    margin = comparison.get("tie_margin")
    if margin is None:
        raise UsageError(
            "the comparison has no final training (tie_margin is null): run "
            "experiments.compare with final.max_designs >= 1"
        )
    co = _values(runs, "coexplore", "final_optsw")
    order = (ABOVE_RANDOM, NO_SEED_LOST, NOT_BELOW_SCREEN, TOP_10, HYPERVOLUME)
    found = {what: Aim(what, "-", None) for what in order}

    def paired(other: str):
        theirs = _values(runs, other, "final_optsw")
        diff = {s: co[s] - theirs[s] for s in sorted(set(co) & set(theirs))}
        per = ", ".join(f"seed {s}: {100 * d:+.2f}" for s, d in diff.items())
        return diff, theirs, per

    diff, rand, per = paired("random")
    if diff:
        mean = float(np.mean(list(diff.values())))
        found[ABOVE_RANDOM] = Aim(
            ABOVE_RANDOM,
            f"coexplore {_pct(np.mean([co[s] for s in diff]))} against random "
            f"{_pct(np.mean([rand[s] for s in diff]))} over {len(diff)} seed(s): "
            f"{100 * mean:+.2f} points ({per}); tie margin {100 * margin:.2f} points",
            mean > margin,
        )
        worst = min(diff.values())
        found[NO_SEED_LOST] = Aim(
            NO_SEED_LOST, f"worst seed {100 * worst:+.2f} points", worst >= -margin
        )
    diff, _, per = paired("random_screen")
    if diff:
        mean = float(np.mean(list(diff.values())))
        found[NOT_BELOW_SCREEN] = Aim(
            NOT_BELOW_SCREEN,
            f"{100 * mean:+.2f} points on the mean ({per})",
            mean >= -margin,
        )
    pct = _values(runs, "coexplore", "final_optsw_percentile")
    if pct:
        top = sum(p >= TOP for p in pct.values())
        per = ", ".join(f"seed {s}: {100 * p:.0f}%" for s, p in sorted(pct.items()))
        found[TOP_10] = Aim(
            TOP_10, f"{top} of {len(pct)} ({per})", top >= SEEDS_OF_5 * len(pct)
        )
    hv_co = _values(runs, "coexplore", "final_hypervolume")
    hv_r = _values(runs, "random", "final_hypervolume")
    seeds = sorted(set(hv_co) & set(hv_r))
    if seeds:
        wins = sum(hv_co[s] > hv_r[s] for s in seeds)
        per = ", ".join(f"seed {s}: {hv_co[s] / hv_r[s]:.2f}x" for s in seeds)
        found[HYPERVOLUME] = Aim(
            HYPERVOLUME,
            f"{wins} of {len(seeds)} ({per})",
            wins >= SEEDS_OF_5 * len(seeds),
        )
    return [*found.values(), _against_hw_aware(runs, margin)]


def _against_hw_aware(runs, margin: float) -> Aim:
    what = AGAINST_HW_AWARE
    base = _values(runs, "hw_aware", "final_optsw")
    co = _values(runs, "coexplore", "final_optsw")
    fps = _values(runs, "coexplore", "final_fps_vs_baseline")
    gops = _values(runs, "coexplore", "final_gops_per_w_vs_baseline")
    images = _values(runs, "coexplore", "train_images")
    base_images = _values(runs, "hw_aware", "train_images")
    seeds = sorted(set(base) & set(co))
    if not seeds:
        return Aim(
            what, "hw_aware has no final-trained design at spec in any seed", None
        )
    parts, met = [], True
    for s in seeds:
        tie_or_better = co[s] >= base[s] - margin
        f, g = fps.get(s), gops.get(s)
        share = (
            images[s] / base_images[s] if s in images and base_images.get(s) else None
        )
        ok = (
            tie_or_better
            and f is not None
            and f >= FPS_GAIN
            and g is not None
            and g >= GOPS_GAIN
            and share is not None
            and share <= COMPUTE_SHARE + 1e-9
        )
        met = met and ok
        parts.append(
            f"seed {s}: {_pct(co[s])} vs {_pct(base[s])}, images/s "
            + ("-" if f is None else f"{100 * f:+.0f}%")
            + ", GOPS/W "
            + ("-" if g is None else f"{100 * g:+.0f}%")
            + ", compute "
            + ("-" if share is None else f"{share:.2f}x")
        )
    missing = sorted(set(_values(runs, "hw_aware", "train_images")) - set(base))
    text = "; ".join(parts)
    if missing:
        text += f" (no design at spec for hw_aware in seed(s) {missing})"
    return Aim(what, text, met)


def markdown(found: list[Aim]) -> str:
    word = {True: "met", False: "**not met**", None: "not measured"}
    lines = [
        "| aim | figures | |",
        "|---|---|---|",
        *(f"| {a.what} | {a.figures} | {word[a.met]} |" for a in found),
    ]
    return "\n".join(lines) + "\n"
