"""Results a person reads: best designs, Pareto front, report.md, the JSON files.

:func:`write_outputs` also draws the figures (pareto.png, learning.png) with
:mod:`cosearch.results.plots`.

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

from cosearch.files.atomic import atomic_write_json, atomic_write_text
from cosearch.hardware.specs import OBJECTIVE_FIGURE
from cosearch.results import pareto
from cosearch.results.plots import save_learning_plot, save_plot
from cosearch.results.records import FIGURE_KEYS, scored_pairs
from cosearch.results.sections import fmt, learning_markdown, stage_table

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
      final: the final training of the run's designs
        (:func:`cosearch.final.phase.final_view`), or None before one.
    """

    opt_sw: dict[str, Any] | None
    opt_hw: dict[str, Any] | None
    front: list[dict[str, Any]]
    hypervolume: float
    counts: dict[str, int]
    final: dict[str, Any] | None = None


def hw_value(pair: dict[str, Any], objective: str) -> float:
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
    scored = scored_pairs(history)
    opt_sw = opt_hw = None
    if scored:
        opt_sw = max(scored, key=lambda h: (h["accuracy"], hw_value(h, objective)))
        near = [h for h in scored if h["accuracy"] >= opt_sw["accuracy"] - margin]
        opt_hw = max(near, key=lambda h: (hw_value(h, objective), h["accuracy"]))
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


def _final_text(final: dict[str, Any] | None) -> str:
    """``87.12% ± 0.31`` of a final-accuracy record (and how many seeds
    failed, counted as 0), or "-"."""
    if not final:
        return "-"
    text = f"{100 * final['mean']:.2f}% ± {100 * final['std']:.2f}"
    if final.get("failed"):
        text += f" ({final['failed']} failed, counted as 0)"
    return text


def _pair_row(name: str, pair: dict[str, Any] | None, finals=None) -> str:
    """A best-designs row; with ``finals`` (final accuracy by architecture)
    a final test accuracy column after the proxy's."""
    empty = " - |" * (5 if finals is None else 6)
    if pair is None:
        return f"| {name} | (none met the specs) |{empty[4:]}"
    final = (
        "" if finals is None else f" {_final_text(finals.get(pair['architecture']))} |"
    )
    return (
        f"| {name} | `{pair['architecture']}` | {100 * pair['accuracy']:.2f}% |"
        f"{final} {fmt(pair['throughput_fps'], 1)} | {fmt(pair['latency_ms'], 3)} | "
        f"{fmt(pair['gops_per_w'], 2)} |"
    )


def final_markdown(summary: Summary) -> list[str]:
    """Rows of report.md's "Final training" section."""
    f = summary.final
    if f is None:
        return []
    st = f["settings"]
    train = st["train"]
    finals = f["accuracy"]
    lines = [
        "## Final training",
        "",
        f"The designs below were trained again with the final budget: "
        f"{st['steps']} steps of {train['batch_size']} images (learning rate "
        f"{train['learning_rate']:g}, {train['warmup_steps']} warm-up steps) on "
        f"the {st['train_images']:,} training and validation images, over "
        f"{st['seeds']} seeds, and scored on the {st['test_images']:,} test "
        "images, which the search never reads. *Proxy* accuracy is what the "
        "search measured (the short child training, on the validation split); "
        "*final* accuracy is the test accuracy, mean ± standard deviation over "
        f"the seeds. Final accuracies within {100 * f['tie_margin']:.2f} points "
        "of each other are ties (twice the standard deviation of a difference "
        "of two means, from the measured seed-to-seed noise).",
        "",
    ]
    ref = f.get("reference")
    scores = sorted(
        {n for d in f["designs"] for n in d["pair"].get("training_free", {})}
    )
    header = ["role", "architecture", *scores, "proxy accuracy", "final test accuracy"]
    header += ["seeds", "images/s", "GOPS/W"]
    if ref:
        header.append("percentile in the reference set")
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for d in f["designs"]:
        acc = finals.get(d["architecture"])
        pair = d["pair"]
        free = pair.get("training_free", {})
        cells = [d["role"], f"`{d['architecture']}`"]
        cells += [fmt(free.get(n), 2) for n in scores]
        cells += [
            f"{100 * d['proxy_accuracy']:.2f}%",
            _final_text(acc),
            str(acc["seeds"]) if acc else "-",
            fmt(pair.get("throughput_fps"), 1),
            fmt(pair.get("gops_per_w"), 2),
        ]
        if ref:
            pct = d.get("percentile")
            cells.append("-" if pct is None else f"{100 * pct:.0f}%")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if ref:
        lines += [
            f"Percentile: the share of the reference set's {ref['architectures']} "
            "architectures (final training of the same budget, "
            f"{ref['seeds']} seeds) whose mean final accuracy is below the "
            "design's (experiments.reference_set).",
            "",
        ]
    if scores:
        lines += [
            "Training-free scores (cosearch.child.scores) as the search "
            f"computed them: {', '.join(scores)}.",
            "",
        ]
    for text in f["statements"]:
        lines.append(f"- {text[0].upper()}{text[1:]}.")
    if f["statements"]:
        lines.append("")
    return lines


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
        lines.append(f"- {key}: {fmt(value)}")
    final = summary.final
    finals = None if final is None else final["accuracy"]
    if final is None:
        best = [("OptSW", summary.opt_sw), ("OptHW", summary.opt_hw)]
        lines += [
            "",
            "## Best designs",
            "",
            "Accuracy is the search's proxy: the short child training, scored "
            "on the validation split (no final training was run).",
            "",
            "| | architecture | proxy accuracy | images/s | latency ms | GOPS/W |",
            "|---|---|---|---|---|---|",
        ]
    else:
        best = [("OptSW", final["OptSW"]), ("OptHW", final["OptHW"])]
        lines += [
            "",
            "## Best designs",
            "",
            "OptSW and OptHW chosen on final test accuracy among the finalized "
            'designs (see "Final training"); the search\'s own choices on proxy '
            "accuracy follow them.",
            "",
            "| | architecture | proxy accuracy | final test accuracy | images/s | "
            "latency ms | GOPS/W |",
            "|---|---|---|---|---|---|---|",
        ]
    lines += [_pair_row(name, pair, finals) for name, pair in best]
    if final is not None:
        lines += [
            _pair_row("OptSW by proxy", summary.opt_sw, finals),
            _pair_row("OptHW by proxy", summary.opt_hw, finals),
        ]
    lines.append("")
    lines += final_markdown(summary)
    for name, pair in best:
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
        "Over proxy accuracy; the final test accuracy where the design was finalized.",
        "",
        "| architecture | proxy accuracy | final test accuracy | images/s | "
        "latency ms | GOPS/W | stages |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in summary.front:
        acc = None if finals is None else finals.get(p["architecture"])
        lines.append(
            f"| `{p['architecture']}` | {100 * p['accuracy']:.2f}% | "
            f"{_final_text(acc)} | "
            f"{fmt(p['throughput_fps'], 1)} | {fmt(p['latency_ms'], 3)} | "
            f"{fmt(p['gops_per_w'], 2)} | {len(p['design']['stages'])} |"
        )
    return "\n".join(lines) + "\n"


def write_outputs(
    workdir: str,
    history: Sequence[dict[str, Any]],
    run_info: dict[str, Any],
    objective: str = "throughput",
    margin: float = 0.01,
    metrics: Sequence[dict[str, Any]] = (),
    final: dict[str, Any] | None = None,
) -> Summary:
    """Write pareto.json, best_designs.json, report.md, pareto.png and, with
    ``metrics`` (metrics.jsonl), learning.png.

    With ``final`` (:func:`cosearch.final.phase.final_view`), every design
    that was finalized carries its final test accuracy (``final``) beside
    its proxy ``accuracy``, and best_designs.json's OptSW and OptHW are those
    chosen on final accuracy (the proxy's choices stay, as ``proxy_OptSW``
    and ``proxy_OptHW``)."""
    summary = dataclasses.replace(summarize(history, objective, margin), final=final)
    finals = {} if final is None else final["accuracy"]

    def with_final(pair):
        if pair is None or final is None:
            return pair
        return {**pair, "final": finals.get(pair["architecture"])}

    atomic_write_json(
        os.path.join(workdir, "pareto.json"),
        {
            "objectives": list(FRONT_KEYS),
            "accuracy": "proxy (validation split); final: test split, see "
            "best_designs.json",
            "hypervolume": summary.hypervolume,
            "hypervolume_reference": [0.0] * len(FRONT_KEYS),
            "front": [with_final(p) for p in summary.front],
        },
    )
    best = {
        "objective": objective,
        "opt_hw_accuracy_margin": margin,
        "OptSW": summary.opt_sw,
        "OptHW": summary.opt_hw,
    }
    if final is not None:
        best.update(
            {
                "chosen_on": "final test accuracy",
                "OptSW": final["OptSW"],
                "OptHW": final["OptHW"],
                "proxy_OptSW": with_final(summary.opt_sw),
                "proxy_OptHW": with_final(summary.opt_hw),
                "final_training": {
                    k: final[k]
                    for k in ("settings", "settings_id", "tie_margin", "statements")
                },
                "finalized": final["designs"],
            }
        )
    else:
        best["chosen_on"] = "proxy accuracy (no final training)"
    atomic_write_json(os.path.join(workdir, "best_designs.json"), best)
    atomic_write_text(
        os.path.join(workdir, "report.md"),
        report_markdown(summary, run_info, metrics=metrics),
    )
    save_plot(
        os.path.join(workdir, "pareto.png"),
        [(run_info.get("strategy", "search"), history)],
        f"{run_info.get('strategy', 'search')}: accuracy vs hardware efficiency",
        finalized=None
        if final is None
        else [
            {**d["pair"], "final": finals.get(d["architecture"])}
            for d in final["designs"]
        ],
    )
    if metrics:
        save_learning_plot(
            os.path.join(workdir, "learning.png"),
            metrics,
            f"{run_info.get('strategy', 'search')}: how the search moved",
        )
    return summary
