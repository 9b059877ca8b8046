"""Results a person reads: best designs, Pareto front, report.md, pareto.png.

Input is the search history: one dict per evaluated pair, as written to
history.jsonl (keys used here: ``status`` in {"pruned", "trained", "cached",
"failed"}, ``accuracy``, ``throughput_fps``, ``latency_ms``, ``gops_per_w``,
``meets_specs``, ``architecture``, ``design``, ``episode``, ``index``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from cosearch import pareto
from cosearch.fileio import atomic_write_json, atomic_write_text
from cosearch.hardware.specs import OBJECTIVE_FIGURE
from cosearch.records import FIGURE_KEYS

# The record key of each hardware objective's figure.
OBJECTIVE_KEYS = {obj: FIGURE_KEYS[fig] for obj, (fig, _) in OBJECTIVE_FIGURE.items()}
FRONT_KEYS = ("accuracy", "throughput_fps", "gops_per_w")


@dataclasses.dataclass(frozen=True)
class Summary:
    """What a run found.

    Attributes:
      opt_sw: the pair of best accuracy meeting the specs (or None).
      opt_hw: the best hardware objective within ``margin`` of that accuracy.
      front: the distinct pairs on the (accuracy, throughput, GOPS/W) front.
      hypervolume: volume dominated by the front against the origin, in
        accuracy x images/s x GOPS/W.
      counts: pairs by status, and children trained.
    """

    opt_sw: dict[str, Any] | None
    opt_hw: dict[str, Any] | None
    front: list[dict[str, Any]]
    hypervolume: float
    counts: dict[str, int]


def _scored(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pairs with an accuracy that met the specs (trained or cached)."""
    return [
        h
        for h in history
        if h.get("status") in ("trained", "cached")
        and h.get("accuracy") is not None
        and h.get("meets_specs", True)
    ]


def _hw_value(pair: dict[str, Any], objective: str) -> float:
    """The objective's figure of a record, larger is better."""
    _, sign = OBJECTIVE_FIGURE[objective]
    value = pair[OBJECTIVE_KEYS[objective]]
    return value if sign > 0 else -value


def summarize(
    history: Sequence[dict[str, Any]],
    objective: str = "throughput",
    margin: float = 0.01,
) -> Summary:
    """OptSW, OptHW, the front and its hypervolume from a run's history.

    Args:
      history: the evaluated pairs.
      objective: hardware objective: "throughput", "energy" or "latency".
      margin: OptHW's accuracy margin below OptSW's accuracy (fraction).
    """
    if objective not in OBJECTIVE_KEYS:
        raise ValueError(f"objective must be one of {sorted(OBJECTIVE_KEYS)}")
    counts = {
        s: 0 for s in ("pruned", "trained", "cached", "failed", "survived", "skipped")
    }
    for h in history:
        counts[h["status"]] = counts.get(h["status"], 0) + 1
    counts["pairs"] = len(history)
    scored = _scored(history)
    opt_sw = opt_hw = None
    if scored:
        opt_sw = max(scored, key=lambda h: (h["accuracy"], _hw_value(h, objective)))
        near = [h for h in scored if h["accuracy"] >= opt_sw["accuracy"] - margin]
        opt_hw = max(near, key=lambda h: (_hw_value(h, objective), h["accuracy"]))
    # The front over distinct (architecture, design) pairs.
    unique: dict[tuple, dict[str, Any]] = {}
    for h in scored:
        unique.setdefault((h["architecture"], repr(h.get("design"))), h)
    pairs = list(unique.values())
    pts = np.array([[h[k] for k in FRONT_KEYS] for h in pairs], np.float64)
    front, hv = [], 0.0
    if len(pairs):
        mask = pareto.non_dominated(pts)
        front = [p for p, m in zip(pairs, mask, strict=True) if m]
        front.sort(key=lambda h: -h["accuracy"])
        hv = pareto.hypervolume(pts, np.zeros(len(FRONT_KEYS)))
    return Summary(opt_sw, opt_hw, front, hv, counts)


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _pair_row(name: str, pair: dict[str, Any] | None) -> str:
    if pair is None:
        return f"| {name} | (none met the specs) | - | - | - | - |"
    return (
        f"| {name} | `{pair['architecture']}` | {100 * pair['accuracy']:.2f}% | "
        f"{_fmt(pair['throughput_fps'], 1)} | {_fmt(pair['latency_ms'], 3)} | "
        f"{_fmt(pair['gops_per_w'], 2)} |"
    )


def stage_table(pair: dict[str, Any]) -> list[str]:
    """Markdown rows of a pair's per-FPGA configuration."""
    rows = [
        "| stage | layers | FPGA | Tm | Tn | Tr | Tc | Tk | Wp | Ip | Op | DSP | "
        "BRAM18 | ms | bottlenecks |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, st in enumerate(pair["design"]["stages"]):
        t = st["tiling"]
        rows.append(
            f"| {i} | {st['layers'][0]}-{st['layers'][1]} | {st['device']} | "
            + " | ".join(str(t[k]) for k in ("tm", "tn", "tr", "tc", "tk"))
            + " | "
            + " | ".join(str(t[k]) for k in ("wp", "ip", "op"))
            + f" | {st['dsp']} | {st['bram18']} | {1e3 * st['seconds']:.3f} | "
            + ", ".join(st.get("bottlenecks", []))
            + " |"
        )
    return rows


def report_markdown(
    summary: Summary,
    run_info: dict[str, Any],
    title: str = "cosearch run",
    metrics: Sequence[dict[str, Any]] = (),
) -> str:
    """The text of report.md."""
    c = summary.counts
    lines = [f"# {title}", ""]
    for key, value in run_info.items():
        lines.append(f"- {key}: {_fmt(value)}")
    lines += [
        "",
        "## Best designs",
        "",
        "| | architecture | accuracy | images/s | latency ms | GOPS/W |",
        "|---|---|---|---|---|---|",
        _pair_row("OptSW", summary.opt_sw),
        _pair_row("OptHW", summary.opt_hw),
        "",
    ]
    for name, pair in (("OptSW", summary.opt_sw), ("OptHW", summary.opt_hw)):
        if pair is not None:
            lines += [f"### {name}: per-FPGA configuration", ""]
            lines += stage_table(pair) + [""]
    lines += [
        "## Search cost",
        "",
        "| pairs | trained | cached | survived, not trained | pruned | failed | "
        "hypervolume |",
        "|---|---|---|---|---|---|---|",
        f"| {c['pairs']} | {c['trained']} | {c['cached']} | {c['survived']} | "
        f"{c['pruned']} | {c['failed']} | {summary.hypervolume:,.4g} |",
        "",
        *learning_markdown(metrics),
        "## Pareto front (accuracy, throughput, energy efficiency)",
        "",
        "| architecture | accuracy | images/s | latency ms | GOPS/W | stages |",
        "|---|---|---|---|---|---|",
    ]
    for p in summary.front:
        lines.append(
            f"| `{p['architecture']}` | {100 * p['accuracy']:.2f}% | "
            f"{_fmt(p['throughput_fps'], 1)} | {_fmt(p['latency_ms'], 3)} | "
            f"{_fmt(p['gops_per_w'], 2)} | {len(p['design']['stages'])} |"
        )
    return "\n".join(lines) + "\n"


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
        scored = _scored(history)
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
        ax.set_ylabel("validation accuracy (%); x = pruned, not trained")
        ax.grid(alpha=0.3)
    ax_pair[0].legend(fontsize=7, loc="best")


def save_plot(path: str, series, title: str) -> None:
    """Write the accuracy-vs-hardware figure of ``series`` to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    plot_pairs(axes, series)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


# Per-episode series of metrics.jsonl drawn by learning.png, with labels.
LEARNING_SERIES = (
    ("pruned_share", "share of proposals pruned"),
    ("reward_mean", "mean reward of the proposals"),
    ("entropy", "policy entropy (nats / sequence)"),
    ("arch_entropy", "architecture-token entropy (nats)"),
    ("median_mmacs", "median MMACs of the proposals"),
    ("best_accuracy_at_spec", "best accuracy at spec so far (%)"),
)


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
        "entropy | median MMACs | best at spec | children trained |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for part in thirds(metrics):
        a, b = part["episodes"]
        best = part["best_accuracy_at_spec"]
        lines.append(
            f"| {a}-{b} | {_fmt(part['pruned_share'])} | "
            f"{_fmt(part['reward_mean'], 3)} | {_fmt(part['entropy'], 2)} | "
            f"{_fmt(part['arch_entropy'], 2)} | "
            f"{_fmt(part['median_mmacs'], 1)} | "
            + ("-" if best is None else f"{100 * best:.2f}%")
            + f" | {part['children_trained']} |"
        )
    return lines + [""]


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
    _save(fig, path)


def _save(fig, path: str) -> None:
    import matplotlib.pyplot as plt

    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def write_outputs(
    workdir: str,
    history: Sequence[dict[str, Any]],
    run_info: dict[str, Any],
    objective: str = "throughput",
    margin: float = 0.01,
    metrics: Sequence[dict[str, Any]] = (),
) -> Summary:
    """Write pareto.json, best_designs.json, report.md, pareto.png and, with
    ``metrics`` (metrics.jsonl), learning.png."""
    summary = summarize(history, objective, margin)
    atomic_write_json(
        os.path.join(workdir, "pareto.json"),
        {
            "objectives": list(FRONT_KEYS),
            "hypervolume": summary.hypervolume,
            "hypervolume_reference": [0.0] * len(FRONT_KEYS),
            "front": summary.front,
        },
    )
    atomic_write_json(
        os.path.join(workdir, "best_designs.json"),
        {
            "objective": objective,
            "opt_hw_accuracy_margin": margin,
            "OptSW": summary.opt_sw,
            "OptHW": summary.opt_hw,
        },
    )
    atomic_write_text(
        os.path.join(workdir, "report.md"),
        report_markdown(summary, run_info, metrics=metrics),
    )
    save_plot(
        os.path.join(workdir, "pareto.png"),
        [(run_info.get("strategy", "search"), history)],
        f"{run_info.get('strategy', 'search')}: accuracy vs hardware efficiency",
    )
    if metrics:
        save_learning_plot(
            os.path.join(workdir, "learning.png"),
            metrics,
            f"{run_info.get('strategy', 'search')}: how the search moved",
        )
    return summary
