"""The figures of a run: pareto.png (accuracy against hardware) and
learning.png (how the search moved), drawn with matplotlib from history and
metrics records (the keys :mod:`cosearch.results.report` describes).

matplotlib is imported when a figure is drawn, with the Agg backend; a figure
is written to a temporary file and moved into place.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from cosearch.results import pareto
from cosearch.results.records import scored_pairs

# Per-episode series of metrics.jsonl drawn by learning.png, with labels.
LEARNING_SERIES = (
    ("pruned_share", "share of proposals pruned"),
    ("reward_mean", "mean reward of the proposals"),
    ("entropy", "policy entropy (nats / sequence)"),
    ("arch_entropy", "architecture-token entropy (nats)"),
    ("median_mmacs", "median MMACs of the proposals"),
    ("best_accuracy_at_spec", "best proxy accuracy at spec so far (%)"),
)


def front_2d(xs: Sequence[float], ys: Sequence[float]) -> tuple[list, list]:
    """The (x, y) points of a 2-D front (both maximised), by ascending x."""
    pts = np.array([xs, ys], np.float64).T.reshape(-1, 2)
    keep = pareto.non_dominated(pts) if len(pts) else np.zeros(0, bool)
    front = sorted(map(tuple, pts[keep]))
    return [p[0] for p in front], [p[1] for p in front]


def plot_pairs(ax_pair, series: Sequence[tuple[str, Sequence[dict[str, Any]]]]):
    """Scatter accuracy vs throughput and vs GOPS/W on two axes, fronts drawn.

    Args:
      ax_pair: two matplotlib axes.
      series: (label, history) per series. Pairs meeting the specs are
        filled (the front is drawn through them), trained pairs missing the
        specs hollow; pruned pairs were never trained: they are drawn with an
        'x' on a strip below the lowest accuracy.
    """
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    accs = [
        100 * h["accuracy"]
        for _, hist in series
        for h in hist
        if h.get("accuracy") is not None
    ]
    low, high = (min(accs), max(accs)) if accs else (0.0, 100.0)
    strip = low - 0.08 * max(high - low, 1.0)  # where pruned pairs are drawn
    for (label, history), color in zip(series, colors * 4, strict=False):
        scored = scored_pairs(history)
        missed = [  # trained, but its hardware misses the specs
            h
            for h in history
            if h.get("accuracy") is not None and not h.get("meets_specs", True)
        ]
        pruned = [h for h in history if h.get("status") == "pruned"]
        for ax, key in zip(ax_pair, ("throughput_fps", "gops_per_w"), strict=True):
            xs = [h[key] for h in scored]
            ys = [100 * h["accuracy"] for h in scored]
            if missed:
                ax.scatter(
                    [h[key] for h in missed],
                    [100 * h["accuracy"] for h in missed],
                    s=14,
                    alpha=0.6,
                    facecolors="none",
                    edgecolors=color,
                    label=f"{label} trained, misses specs",
                )
            if scored:
                ax.scatter(
                    xs, ys, s=14, alpha=0.5, color=color, label=f"{label} meets specs"
                )
                fx, fy = front_2d(xs, ys)
                # Attainment staircase: each front point holds to its left.
                ax.step(
                    fx, fy, where="pre", color=color, lw=1.5, label=f"{label} front"
                )
            if pruned:
                ax.scatter(
                    [h[key] for h in pruned],
                    [strip] * len(pruned),
                    marker="x",
                    s=14,
                    alpha=0.5,
                    color=color,
                    label=f"{label} pruned",
                )
    for ax, name in zip(
        ax_pair, ("throughput (images/s)", "energy eff. (GOPS/W)"), strict=True
    ):
        ax.set_xlabel(name)
        ax.set_ylabel("accuracy (%): proxy on validation; x = pruned")
        ax.grid(alpha=0.3)
    if ax_pair[0].get_legend_handles_labels()[0]:  # nothing drawn: no legend
        ax_pair[0].legend(fontsize=7, loc="best")


def plot_finalized(ax_pair, finalized: Sequence[dict[str, Any]]) -> None:
    """Final test accuracy of finalized pairs (records with ``final``): a
    black star at the seeds' mean with a bar from the lowest to the highest
    seed, joined by a dotted line to the same pair's proxy accuracy."""
    done = [p for p in finalized if p.get("final")]
    for ax, key in zip(ax_pair, ("throughput_fps", "gops_per_w"), strict=True):
        for i, p in enumerate(done):
            f = p["final"]
            x, mean = p[key], 100 * f["mean"]
            ax.errorbar(
                [x],
                [mean],
                yerr=[[mean - 100 * f["low"]], [100 * f["high"] - mean]],
                fmt="*",
                ms=10,
                color="black",
                capsize=3,
                label="final test accuracy (mean, seed range)" if i == 0 else None,
            )
            ax.plot([x, x], [100 * p["accuracy"], mean], ":", color="gray", lw=1)


def save_plot(path: str, series, title: str, finalized=None) -> None:
    """Write the accuracy-vs-hardware figure of ``series`` to ``path`` (PNG);
    ``finalized`` pairs (with ``final``) get their final test accuracy drawn
    (:func:`plot_finalized`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    plot_pairs(axes, series)
    if finalized:
        plot_finalized(axes, finalized)
        axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def save_learning_plot(path: str, metrics: Sequence[dict[str, Any]], title: str):
    """learning.png: each series of LEARNING_SERIES against the episode (top
    row) and against the children trained so far (bottom row)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(LEARNING_SERIES), figsize=(21, 6.5))
    episodes = [m["episode"] for m in metrics]
    children = [m.get("children_trained_total", 0) for m in metrics]
    for col, (key, label) in enumerate(LEARNING_SERIES):
        scale = 100.0 if key == "best_accuracy_at_spec" else 1.0
        ys = [np.nan if m.get(key) is None else scale * float(m[key]) for m in metrics]
        for row, (xs, xlabel) in enumerate(
            ((episodes, "episode"), (children, "children trained"))
        ):
            ax = axes[row, col]
            if key == "best_accuracy_at_spec":
                ax.step(xs, ys, where="post", color="tab:blue")
            else:
                ax.plot(xs, ys, ".", ms=3, alpha=0.5, color="tab:blue")
                if len(ys) >= 5:  # a moving mean over ~1/10 of the run
                    k = max(len(ys) // 10, 3)
                    v = np.asarray(ys, np.float64)
                    ok = np.isfinite(v)
                    num = np.convolve(np.where(ok, v, 0.0), np.ones(k), "same")
                    den = np.convolve(ok.astype(float), np.ones(k), "same")
                    with np.errstate(invalid="ignore", divide="ignore"):
                        ax.plot(xs, num / den, color="tab:orange", lw=1.5)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(label, fontsize=8)
            ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def save_figure(fig, path: str) -> None:
    """Write matplotlib figure ``fig`` to ``path`` (PNG) and close it."""
    import matplotlib.pyplot as plt

    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def save_best_so_far_plot(path: str, facts) -> None:
    """Best accuracy at spec so far against children trained: per strategy
    each seed (thin), and the mean over seeds (bold) with the min-max band
    where every seed has a pair at spec."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    # One colour per strategy, in the order the comparison lists them.
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = {name: palette[i % len(palette)] for i, name in enumerate(facts)}
    for name, by_seed in facts.items():
        curves = [dict(f["curve"]) for f in by_seed.values()]
        most = max((max(c, default=0) for c in curves), default=0)
        if most == 0:
            continue
        xs = np.arange(1, most + 1)
        table = np.full((len(curves), most), np.nan)
        for r, curve in enumerate(curves):
            value = np.nan
            for x in xs:
                if x in curve and curve[x] is not None:
                    value = 100 * curve[x]
                table[r, x - 1] = value
        color = colors.get(name)
        for row in table:  # each seed, thin
            ax.step(xs, row, where="post", color=color, lw=0.7, alpha=0.5)
        # The mean only where every seed has a pair at spec (a mean over the
        # seeds that have one would jump as seeds join), and the band.
        every = ~np.isnan(table).any(axis=0)
        if every.any():
            full = np.where(np.isnan(table), 0.0, table)
            mean, lo, hi = (
                np.where(every, f(full, axis=0), np.nan)
                for f in (np.mean, np.min, np.max)
            )
            ax.step(xs, mean, where="post", color=color, lw=2, label=f"{name} (mean)")
            ax.fill_between(xs, lo, hi, step="post", color=color, alpha=0.15)
        else:
            ax.plot([], [], color=color, lw=0.7, label=f"{name} (seeds; no mean)")
    ax.set_xlabel("children trained")
    ax.set_ylabel("best proxy accuracy at spec so far (%)")
    ax.set_title(
        "best-so-far accuracy at spec: each seed (thin), mean and min-max band\n"
        "where every seed has a pair at spec"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
