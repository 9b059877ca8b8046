"""Strategies run and compared over seeds at equal trained children.

Input: for each (strategy, seed) run, its history (history.jsonl), metrics
(metrics.jsonl) and final training (best_designs.json). Output: per-run
facts, their mean and spread over seeds per strategy, comparison.md /
comparison.json and the best-so-far plot
(:func:`cosearch.search.strategy_runs.run_strategies` runs the searches, each
with its final phase, and writes them here).

The measures on the search's proxy accuracy (``margin`` = the OptHW accuracy
margin, a fraction; the measures on final test accuracy are
:mod:`cosearch.final.compare`'s):

- ``best_accuracy``: best accuracy among pairs meeting the specs (OptSW);
- ``fps_at_baseline`` / ``gops_per_w_at_baseline``: the best throughput and
  energy efficiency among spec-meeting pairs whose accuracy is at least the
  baseline's (hw_aware's) best accuracy of the same seed, less the margin;
  with their ratio to the baseline's own OptSW pair;
- ``children_to_baseline``: trained children (in the order the run trained
  them) until a spec-meeting pair first reaches that accuracy, the paper's
  search-cost measure; None if it never does;
- ``mean_accuracy``, ``median_fps``, ``at_spec``: over the trained
  children whose design meets the specs, their mean accuracy, median
  throughput and number (what the strategy spent its trainings on, less
  noisy than the best of them);
- ``children_trained``, ``train_images`` (child-training compute: steps
  times batch, over every child), ``proposals``, ``pruned``, ``wall_s``
  (measured wall time of the run), ``hypervolume``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cosearch.files.atomic import atomic_write_json, atomic_write_text
from cosearch.final.compare import final_facts, final_markdown
from cosearch.results import plots, report
from cosearch.results.stats import mean_spread

BASELINE = "hw_aware"
MEASURES = (
    ("best_accuracy", "best proxy accuracy at spec", 100.0, "{:.2f}%"),
    ("fps_at_baseline", "images/s at hw_aware's accuracy", 1.0, "{:,.0f}"),
    ("fps_vs_baseline", "images/s vs hw_aware", 100.0, "{:+.1f}%"),
    ("gops_per_w_at_baseline", "GOPS/W at hw_aware's accuracy", 1.0, "{:.2f}"),
    ("gops_per_w_vs_baseline", "GOPS/W vs hw_aware", 100.0, "{:+.1f}%"),
    ("children_to_baseline", "children to reach hw_aware's accuracy", 1.0, "{:.1f}"),
    ("mean_accuracy", "mean proxy accuracy of children at spec", 100.0, "{:.2f}%"),
    ("median_fps", "median images/s of children at spec", 1.0, "{:,.0f}"),
    ("at_spec", "children at spec", 1.0, "{:.1f}"),
    ("children_trained", "children trained", 1.0, "{:.1f}"),
    ("train_images", "child-training images (compute)", 1.0, "{:,.0f}"),
    ("proposals", "proposals", 1.0, "{:.0f}"),
    ("pruned", "pruned", 1.0, "{:.0f}"),
    ("wall_s", "wall s", 1.0, "{:.0f}"),
    ("hypervolume", "hypervolume", 1.0, "{:.4g}"),
)


def _at_spec(history: Sequence[dict[str, Any]]):
    """Pairs with a measured accuracy whose design meets the specs."""
    return [
        h
        for h in history
        if h.get("status") in ("trained", "cached")
        and h.get("accuracy") is not None
        and h.get("meets_specs", True)
    ]


def best_so_far(history: Sequence[dict[str, Any]]) -> list[tuple[int, float | None]]:
    """(children trained, best accuracy at spec so far) after each training,
    in history order; a failed child counts as trained."""
    out, best, children = [], None, 0
    for h in history:
        if h.get("status") in ("trained", "failed"):
            children += 1
        if (
            h.get("status") in ("trained", "cached")
            and h.get("accuracy") is not None
            and h.get("meets_specs", True)
        ):
            best = h["accuracy"] if best is None else max(best, h["accuracy"])
        if h.get("status") in ("trained", "failed"):
            out.append((children, best))
    return out


def children_to_reach(history, accuracy: float, margin: float) -> int | None:
    """Children trained until a spec-meeting pair first has accuracy >=
    ``accuracy - margin`` (None: never)."""
    for children, best in best_so_far(history):
        if best is not None and best >= accuracy - margin - 1e-12:
            return children
    return None


def run_facts(
    history: Sequence[dict[str, Any]],
    metrics: Sequence[dict[str, Any]],
    baseline_history: Sequence[dict[str, Any]] | None,
    margin: float,
    objective: str = "throughput",
) -> dict[str, Any]:
    """The measures of one run (see the module docstring)."""
    summary = report.summarize(history, objective, margin)
    opt = summary.opt_sw
    children = [
        h for h in history if h.get("status") == "trained" and h.get("meets_specs")
    ]
    facts: dict[str, Any] = {
        "best_accuracy": None if opt is None else opt["accuracy"],
        "opt_sw": None
        if opt is None
        else {
            k: opt[k]
            for k in ("architecture", "accuracy", "throughput_fps", "gops_per_w")
        },
        "mean_accuracy": (
            float(np.mean([h["accuracy"] for h in children])) if children else None
        ),
        "median_fps": (
            float(np.median([h["throughput_fps"] for h in children]))
            if children
            else None
        ),
        "at_spec": len(children),
        "children_trained": sum(h["status"] in ("trained", "failed") for h in history),
        "proposals": len(history),
        "pruned": sum(h["status"] == "pruned" for h in history),
        "wall_s": metrics[-1].get("elapsed_s") if metrics else None,
        # None for runs made before compute was counted.
        "train_images": metrics[-1].get("train_images_total") if metrics else None,
        "hypervolume": summary.hypervolume,
        "curve": best_so_far(history),
    }
    base = None
    if baseline_history is not None:
        base = report.summarize(baseline_history, objective, margin).opt_sw
    for key in ("fps", "gops_per_w"):
        for suffix in ("at_baseline", "vs_baseline"):
            facts[f"{key}_{suffix}"] = None
    facts["children_to_baseline"] = None
    facts["baseline_accuracy"] = None if base is None else base["accuracy"]
    if base is not None:
        floor = base["accuracy"] - margin
        near = [h for h in _at_spec(history) if h["accuracy"] >= floor]
        for key, field in (("fps", "throughput_fps"), ("gops_per_w", "gops_per_w")):
            value = max((h[field] for h in near), default=None)
            facts[f"{key}_at_baseline"] = value
            if value is not None and base[field] > 0:
                facts[f"{key}_vs_baseline"] = value / base[field] - 1.0
        facts["children_to_baseline"] = children_to_reach(
            history, base["accuracy"], margin
        )
    return facts


def aggregate(facts: Mapping[str, Mapping[int, dict[str, Any]]]) -> dict[str, Any]:
    """Per strategy: mean, std, min, max and count over seeds of each
    measure (seeds where a measure is None are left out of it)."""
    out = {}
    for name, by_seed in facts.items():
        out[name] = {
            key: mean_spread([f.get(key) for f in by_seed.values()])
            for key, *_ in MEASURES
        }
        out[name]["reached_baseline"] = sum(
            f.get("children_to_baseline") is not None for f in by_seed.values()
        )
        out[name]["seeds"] = len(by_seed)
    return out


def _cell(stats: dict[str, Any], scale: float, fmt: str) -> str:
    if stats["n"] == 0:
        return "-"
    mean = fmt.format(scale * stats["mean"])
    if stats["n"] == 1:
        return mean
    lo, hi = fmt.format(scale * stats["min"]), fmt.format(scale * stats["max"])
    sd = fmt.format(scale * stats["std"]).lstrip("+")
    return f"{mean} ± {sd} [{lo}, {hi}]"


def paired_difference(facts, a: str, b: str, key: str) -> dict[str, Any] | None:
    """``a - b`` of a measure, seed by seed (seeds both have), with its mean
    and spread; None without a common seed."""
    if a not in facts or b not in facts:
        return None
    seeds = sorted(set(facts[a]) & set(facts[b]))
    diffs = {
        s: facts[a][s][key] - facts[b][s][key]
        for s in seeds
        if facts[a][s].get(key) is not None and facts[b][s].get(key) is not None
    }
    if not diffs:
        return None
    return {"by_seed": diffs, **mean_spread(list(diffs.values()))}


def markdown(
    facts: Mapping[str, Mapping[int, dict[str, Any]]],
    settings: dict[str, Any],
    margin: float,
) -> str:
    """The text of comparison.md."""
    agg = aggregate(facts)
    seeds = sorted({s for by_seed in facts.values() for s in by_seed})
    lines = [
        "# Strategy comparison",
        "",
        *(f"- {k}: {v}" for k, v in settings.items()),
        f"- seeds: {', '.join(map(str, seeds))}",
        f'- margin: {100 * margin:.1f} accuracy points ("at hw_aware\'s accuracy" '
        "= at least hw_aware's best accuracy at spec of the same seed, less the "
        "margin)",
        "",
        "Cells: mean ± standard deviation [min, max] over seeds; a seed where a "
        "measure does not exist (e.g. no pair reaches hw_aware's accuracy) is "
        "left out of it, and the last column says in how many seeds it exists.",
        "",
        "## On the search's proxy accuracy",
        "",
        "Accuracy here is what the search measured: the short child training, "
        "scored on the validation split (a ranking signal, not a trained "
        "model's accuracy; the final test accuracy follows in its own section).",
        "",
    ]
    header = (
        ["strategy"]
        + [label for _, label, *_ in MEASURES]
        + ["seeds reaching hw_aware's accuracy"]
    )
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, stats in agg.items():
        cells = [_cell(stats[key], scale, fmt) for key, _, scale, fmt in MEASURES]
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {stats['reached_baseline']}/{stats['seeds']} |"
        )
    lines += ["", "## Seed by seed", ""]
    cols = (
        "best_accuracy",
        "mean_accuracy",
        "median_fps",
        "at_spec",
        "fps_vs_baseline",
        "gops_per_w_vs_baseline",
        "children_to_baseline",
        "hypervolume",
    )
    fmts = {k: (scale, fmt) for k, _, scale, fmt in MEASURES}
    lines += [
        "| seed | strategy | " + " | ".join(cols) + " |",
        "|" + "---|" * (len(cols) + 2),
    ]
    for seed in seeds:
        for name, by_seed in facts.items():
            if seed not in by_seed:
                continue
            f = by_seed[seed]
            cells = []
            for k in cols:
                scale, fmt = fmts[k]
                cells.append("-" if f.get(k) is None else fmt.format(scale * f[k]))
            lines.append(f"| {seed} | {name} | " + " | ".join(cells) + " |")
    diffs = []
    for other in facts:
        for key, label in (
            ("best_accuracy", "best proxy accuracy at spec"),
            ("mean_accuracy", "mean accuracy of children at spec"),
            ("hypervolume", "hypervolume"),
            ("final_optsw", "final test accuracy of OptSW"),
            ("final_optsw_percentile", "OptSW's percentile in the reference set"),
            ("final_hypervolume", "hypervolume on final accuracy"),
        ):
            d = paired_difference(facts, "coexplore", other, key)
            if d is None or other == "coexplore":
                continue
            percent = key.endswith(("accuracy", "optsw", "percentile"))
            scale = 100.0 if percent else 1.0
            unit = " points" if percent else ""
            per = ", ".join(
                f"seed {s}: {scale * v:+.4g}" for s, v in d["by_seed"].items()
            )
            diffs.append(
                f"| coexplore - {other} | {label} | {scale * d['mean']:+.4g}{unit} | "
                f"{scale * d['std']:.4g} | {per} |"
            )
    if diffs:
        lines += [
            "",
            "## coexplore against each baseline, paired by seed",
            "",
            "| difference | measure | mean | std over seeds | by seed |",
            "|---|---|---|---|---|",
            *diffs,
        ]
    return "\n".join(lines) + "\n"


def write(
    workdir: str,
    runs: Mapping[str, Mapping[int, tuple]],
    settings: dict[str, Any],
    margin: float,
    objective: str = "throughput",
    tie_margin: float | None = None,
) -> str:
    """comparison.md, comparison.json, comparison.png (fronts of the first
    seed) and best_so_far.png from ``runs[strategy][seed] = (history,
    metrics[, final])``, ``final`` a run's final view (best_designs.json) or
    None; ``tie_margin``: of final accuracies. Returns the markdown."""
    facts: dict[str, dict[int, dict[str, Any]]] = {}
    for name, by_seed in runs.items():
        facts[name] = {}
        for seed, (history, metrics, *final) in by_seed.items():
            base = runs.get(BASELINE, {}).get(seed)
            facts[name][seed] = run_facts(
                history, metrics, None if base is None else base[0], margin, objective
            )
            if final and tie_margin is not None:
                base_final = None if base is None or len(base) < 3 else base[2]
                facts[name][seed].update(final_facts(final[0], base_final, tie_margin))
    text = markdown(facts, settings, margin)
    if tie_margin is not None:
        text += "\n".join(final_markdown(facts, tie_margin))
    atomic_write_text(os.path.join(workdir, "comparison.md"), text)
    atomic_write_json(
        os.path.join(workdir, "comparison.json"),
        {
            "settings": settings,
            "margin": margin,
            "tie_margin": tie_margin,
            "summary": aggregate(facts),
            "runs": {
                name: {str(seed): f for seed, f in by_seed.items()}
                for name, by_seed in facts.items()
            },
        },
    )
    first = min({s for by_seed in runs.values() for s in by_seed}, default=None)
    if first is not None:
        plots.save_plot(
            os.path.join(workdir, "comparison.png"),
            [
                (name, by_seed[first][0])
                for name, by_seed in runs.items()
                if first in by_seed
            ],
            f"strategies, seed {first}: accuracy vs hardware efficiency",
        )
    plots.save_best_so_far_plot(os.path.join(workdir, "best_so_far.png"), facts)
    return text
