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


def aims(comparison: Mapping[str, Any]) -> list[Aim]:
    """The six aims of the module docstring, from a comparison.json."""
    runs = comparison["runs"]
    margin = comparison.get("tie_margin")
    if margin is None:
        raise UsageError(
            "the comparison has no final training (tie_margin is null): run "
            "experiments.compare with final.max_designs >= 1"
        )
    co = _values(runs, "coexplore", "final_optsw")
    out = []

    def paired(other: str):
        theirs = _values(runs, other, "final_optsw")
        return {s: co[s] - theirs[s] for s in sorted(set(co) & set(theirs))}, theirs

    diff, rand = paired("random")
    by_seed = ", ".join(f"seed {s}: {100 * d:+.2f}" for s, d in diff.items())
    if diff:
        mean = float(np.mean(list(diff.values())))
        mean_line = (
            f"coexplore {_pct(np.mean([co[s] for s in diff]))} against random "
            f"{_pct(np.mean([rand[s] for s in diff]))} over {len(diff)} seed(s): "
            f"{100 * mean:+.2f} points ({by_seed}); tie margin "
            f"{100 * margin:.2f} points"
        )
        out.append(
            Aim(
                "mean OptSW final accuracy above random's by more than the tie margin",
                mean_line,
                mean > margin,
            )
        )
        worst = min(diff.values())
        out.append(
            Aim(
                "no seed lost to random by more than the margin",
                f"worst seed {100 * worst:+.2f} points",
                worst >= -margin,
            )
        )
    else:
        out += [
            Aim(
                "mean OptSW final accuracy above random's by more than the tie margin",
                "-",
                None,
            ),
            Aim("no seed lost to random by more than the margin", "-", None),
        ]
    diff, _ = paired("random_screen")
    if diff:
        mean = float(np.mean(list(diff.values())))
        per = ", ".join(f"seed {s}: {100 * d:+.2f}" for s, d in diff.items())
        out.append(
            Aim(
                "not below random_screen (a tie acceptable)",
                f"{100 * mean:+.2f} points on the mean ({per})",
                mean >= -margin,
            )
        )
    else:
        out.append(Aim("not below random_screen (a tie acceptable)", "-", None))
    pct = _values(runs, "coexplore", "final_optsw_percentile")
    if pct:
        top = sum(p >= TOP for p in pct.values())
        per = ", ".join(f"seed {s}: {100 * p:.0f}%" for s, p in sorted(pct.items()))
        out.append(
            Aim(
                "OptSW in the reference set's top 10% in at least 4 of 5 seeds",
                f"{top} of {len(pct)} ({per})",
                top >= SEEDS_OF_5 * len(pct),
            )
        )
    else:
        out.append(
            Aim(
                "OptSW in the reference set's top 10% in at least 4 of 5 seeds",
                "-",
                None,
            )
        )
    hv_co = _values(runs, "coexplore", "final_hypervolume")
    hv_r = _values(runs, "random", "final_hypervolume")
    common_seeds = sorted(set(hv_co) & set(hv_r))
    if common_seeds:
        wins = sum(hv_co[s] > hv_r[s] for s in common_seeds)
        per = ", ".join(f"seed {s}: {hv_co[s] / hv_r[s]:.2f}x" for s in common_seeds)
        out.append(
            Aim(
                "final-accuracy hypervolume ahead of random in at least 4 of 5 seeds",
                f"{wins} of {len(common_seeds)} ({per})",
                wins >= SEEDS_OF_5 * len(common_seeds),
            )
        )
    else:
        out.append(
            Aim(
                "final-accuracy hypervolume ahead of random in at least 4 of 5 seeds",
                "-",
                None,
            )
        )
    out.append(_against_hw_aware(runs, margin))
    return out


def _against_hw_aware(runs, margin: float) -> Aim:
    what = (
        "against hw_aware: its final accuracy or better (tie allowed) at >= +35% "
        "images/s and >= +54% GOPS/W, with at most a third of its compute"
    )
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
