"""Sections of report.md that stand on their own: a pair's per-FPGA stage
table and how the search moved (the learning series over thirds of the
episodes), with the cell format they share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cosearch.results.plots import LEARNING_SERIES


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def stage_table(pair: dict[str, Any]) -> list[str]:
    """Markdown rows of a pair's per-FPGA configuration."""
    rows = [
        "| stage | layers | FPGA | Tm | Tn | Tr | Tc | Tk | Wp | Ip | Op | DSP | "
        "BRAM18 | LUTRAM | ms | bottlenecks |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, st in enumerate(pair["design"]["stages"]):
        t = st["tiling"]
        rows.append(
            f"| {i} | {st['layers'][0]}-{st['layers'][1]} | {st['device']} | "
            + " | ".join(str(t[k]) for k in ("tm", "tn", "tr", "tc", "tk"))
            + " | "
            + " | ".join(str(t[k]) for k in ("wp", "ip", "op"))
            + f" | {st['dsp']} | {st['bram18']} | {st.get('lutram', '-')} | "
            + f"{1e3 * st['seconds']:.3f} | "
            + ", ".join(st.get("bottlenecks", []))
            + " |"
        )
    return rows


def thirds(metrics: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean of each learning series over the first, middle and last third of
    the episodes (fewer parts for fewer than three episodes)."""
    parts = np.array_split(np.arange(len(metrics)), min(3, len(metrics)))
    out = []
    for idx in parts:
        rows = [metrics[i] for i in idx]
        part = {"episodes": [int(idx[0]), int(idx[-1])]}
        for key, _ in LEARNING_SERIES:
            vals = [r.get(key) for r in rows if r.get(key) is not None]
            vals = [v for v in vals if np.isfinite(v)]
            part[key] = float(np.mean(vals)) if vals else None
        part["children_trained"] = rows[-1].get("children_trained_total")
        # The best so far at the end of the part, not its mean.
        part["best_accuracy_at_spec"] = rows[-1].get("best_accuracy_at_spec")
        out.append(part)
    return out


def learning_markdown(metrics: Sequence[dict[str, Any]]) -> list[str]:
    """Rows of report.md's "How the search moved" section."""
    if not metrics:
        return []
    lines = [
        "## How the search moved",
        "",
        "Means over each third of the episodes (best accuracy: at the end of "
        "the third). A controller that learns prunes less and earns more as "
        "the run goes on; the median size of its proposals (MMACs per image) "
        "shows whether it keeps proposing networks of every size or retreats "
        "to the smallest; learning.png draws every episode.",
        "",
        "| episodes | pruned share | mean reward | entropy | architecture "
        "entropy | median MMACs | best proxy at spec | children trained |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for part in thirds(metrics):
        a, b = part["episodes"]
        best = part["best_accuracy_at_spec"]
        lines.append(
            f"| {a}-{b} | {fmt(part['pruned_share'])} | "
            f"{fmt(part['reward_mean'], 3)} | {fmt(part['entropy'], 2)} | "
            f"{fmt(part['arch_entropy'], 2)} | "
            f"{fmt(part['median_mmacs'], 1)} | "
            + ("-" if best is None else f"{100 * best:.2f}%")
            + f" | {part['children_trained']} |"
        )
    return lines + [""]
