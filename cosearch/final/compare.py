"""Strategies compared on final test accuracy (docs/design.md section 6).

Each run of a comparison finalizes its designs (its OptSW and OptHW on proxy
accuracy, then its front, up to ``final.max_designs``); here the runs of one
seed are compared on what those final trainings measured:

- ``final_optsw``: the final test accuracy of the search's own OptSW (its
  most accurate design at spec on *proxy* accuracy: the test split did not
  choose it), and ``final_optsw_percentile``, its percentile in the
  reference set (``final.reference_set``; None without one): the measures
  of what a user of the search gets;
- ``final_best``: the best final test accuracy among the run's finalized
  designs (all of them meet the specs), with its spread over seeds: chosen
  on the test split itself, so optimistic by the best of up to
  ``final.max_designs`` noisy values (equal to ``final_optsw`` with one);
- ``final_fps_at_baseline`` / ``final_gops_per_w_at_baseline``: the best
  throughput and energy efficiency among the run's finalized designs whose
  final accuracy reaches hw_aware's best final accuracy of the same seed
  within the tie margin; ``*_vs_baseline`` their ratio to hw_aware's own
  OptSW chosen on final accuracy (best_designs.json's ``OptSW``), less one;
- ``final_best_percentile``: that design's percentile in the reference set
  (``final.reference_set``; None without one);
- ``final_hypervolume``: the hypervolume of the finalized designs on
  (final accuracy, images/s, GOPS/W) from the origin, and
  ``final_designs``, how many were finalized (the front is only as wide
  as ``final.max_designs`` lets it be);
- ties: two final accuracies within the tie margin
  (:func:`cosearch.final.settings.tie_margin`) are a tie, said in words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cosearch.final.results import compare_text
from cosearch.results import pareto
from cosearch.results.stats import mean_spread

FINAL_MEASURES = (
    ("final_optsw", "final test accuracy of OptSW (picked on proxy)", 100.0, "{:.2f}%"),
    (
        "final_optsw_percentile",
        "OptSW's percentile in the reference set",
        100.0,
        "{:.0f}%",
    ),
    (
        "final_best",
        "best final test accuracy at spec (picked on test)",
        100.0,
        "{:.2f}%",
    ),
    ("final_hypervolume", "hypervolume on final accuracy", 1.0, "{:,.4g}"),
    ("final_designs", "designs finalized", 1.0, "{:.1f}"),
    ("final_fps_at_baseline", "images/s at hw_aware's final accuracy", 1.0, "{:,.0f}"),
    ("final_fps_vs_baseline", "images/s vs hw_aware", 100.0, "{:+.1f}%"),
    (
        "final_gops_per_w_at_baseline",
        "GOPS/W at hw_aware's final accuracy",
        1.0,
        "{:.2f}",
    ),
    ("final_gops_per_w_vs_baseline", "GOPS/W vs hw_aware", 100.0, "{:+.1f}%"),
    (
        "final_best_percentile",
        "percentile of the best in the reference set",
        100.0,
        "{:.0f}%",
    ),
)


def _finalized(final: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The finalized pairs of a run's final view, each with its ``final``,
    ``percentile`` and ``role`` (the search's "OptSW" is its pick on proxy
    accuracy)."""
    if not final:
        return []
    return [
        {
            **d["pair"],
            "final": d["final"],
            "percentile": d.get("percentile"),
            "role": d.get("role"),
        }
        for d in final["designs"]
        if d.get("final")
    ]


def _pair_facts(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "architecture": p["architecture"],
        "final": p["final"],
        "proxy_accuracy": p["accuracy"],
        "throughput_fps": p["throughput_fps"],
        "gops_per_w": p["gops_per_w"],
        "percentile": p["percentile"],
    }


def _best(pairs: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The most accurate pair on final accuracy, ties by throughput."""
    return max(
        pairs, key=lambda p: (p["final"]["mean"], p["throughput_fps"]), default=None
    )


def final_facts(
    final: Mapping[str, Any] | None,
    baseline_final: Mapping[str, Any] | None,
    margin: float,
) -> dict[str, Any]:
    """The final-accuracy measures of one run (see the module docstring).

    Args:
      final: the run's final view (best_designs.json's ``finalized`` and
        ``final_training``, as :func:`cosearch.final.phase.final_view`).
      baseline_final: hw_aware's final view of the same seed, or None.
      margin: the tie margin (fraction).
    """
    pairs = _finalized(final)
    best = _best(pairs)
    facts: dict[str, Any] = {key: None for key, *_ in FINAL_MEASURES}
    facts["final_best_pair"] = facts["final_optsw_pair"] = None
    if best is not None:
        facts["final_best"] = best["final"]["mean"]
        facts["final_best_percentile"] = best["percentile"]
        facts["final_best_pair"] = _pair_facts(best)
    if pairs:
        pts = np.array(
            [[p["final"]["mean"], p["throughput_fps"], p["gops_per_w"]] for p in pairs]
        )
        facts["final_hypervolume"] = pareto.hypervolume(pts, np.zeros(3))
        facts["final_designs"] = len({p["architecture"] for p in pairs})
    optsw = next((p for p in pairs if p["role"] == "OptSW"), None)
    if optsw is not None:
        facts["final_optsw"] = optsw["final"]["mean"]
        facts["final_optsw_percentile"] = optsw["percentile"]
        facts["final_optsw_pair"] = _pair_facts(optsw)
    base = None
    if baseline_final:
        base = baseline_final.get("OptSW") or _best(_finalized(baseline_final))
        if base is not None and not base.get("final"):
            base = None
    facts["baseline_final"] = None if base is None else base["final"]["mean"]
    if base is not None:
        near = [
            p for p in pairs if p["final"]["mean"] >= base["final"]["mean"] - margin
        ]
        for key, field in (("fps", "throughput_fps"), ("gops_per_w", "gops_per_w")):
            value = max((p[field] for p in near), default=None)
            facts[f"final_{key}_at_baseline"] = value
            if value is not None and base[field] > 0:
                facts[f"final_{key}_vs_baseline"] = value / base[field] - 1.0
    return facts


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _cell(values: Sequence[float | None], scale: float, fmt: str) -> str:
    stats = mean_spread(values)
    if stats["n"] == 0:
        return "-"
    mean = fmt.format(scale * stats["mean"])
    if stats["n"] == 1:
        return mean
    sd = fmt.format(scale * stats["std"]).lstrip("+")
    lo, hi = fmt.format(scale * stats["min"]), fmt.format(scale * stats["max"])
    return f"{mean} ± {sd} [{lo}, {hi}]"


def final_markdown(
    facts: Mapping[str, Mapping[int, dict[str, Any]]], margin: float
) -> list[str]:
    """comparison.md's section on final test accuracy; [] when no run was
    finalized."""
    if not any(
        f.get("final_best") is not None or f.get("final_optsw") is not None
        for s in facts.values()
        for f in s.values()
    ):
        return []
    lines = [
        "## Final test accuracy",
        "",
        "Each run's finalized designs (its OptSW and OptHW by proxy accuracy, "
        "then its front, up to `final.max_designs`) trained with the final "
        "budget and scored on the test split; cells over seeds as above. "
        "OptSW is the search's own pick on proxy accuracy (the test split did "
        "not choose it); the best at spec is chosen on the test split among the "
        "finalized, so it is optimistic by the best of several noisy values. "
        '"At hw_aware\'s final accuracy" = finalized designs whose final '
        "accuracy is at least hw_aware's best final accuracy of the same seed, "
        f"less the tie margin ({100 * margin:.2f} points).",
        "",
        "| strategy | " + " | ".join(label for _, label, *_ in FINAL_MEASURES) + " |",
        "|---|" + "---|" * len(FINAL_MEASURES),
    ]
    for name, by_seed in facts.items():
        cells = [
            _cell([f.get(key) for f in by_seed.values()], scale, fmt)
            for key, _, scale, fmt in FINAL_MEASURES
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Seed by seed (OptSW, and the best final design where it is another: "
        "final test accuracy ± std over final seeds, and the proxy accuracy the "
        "search measured for it):",
        "",
        "| seed | strategy | design | architecture | final test accuracy "
        "| proxy accuracy | images/s | GOPS/W | percentile in the reference set |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    seeds = sorted({s for by_seed in facts.values() for s in by_seed})
    for seed in seeds:
        for name, by_seed in facts.items():
            f = by_seed.get(seed, {})
            rows = [("OptSW", f.get("final_optsw_pair"))]
            best = f.get("final_best_pair")
            if best is not None and best != rows[0][1]:
                rows.append(("best on test", best))
            for role, p in rows:
                if p is None:
                    continue
                acc = p["final"]
                lines.append(
                    f"| {seed} | {name} | {role} | `{p['architecture']}` | "
                    f"{100 * acc['mean']:.2f}% ± {100 * acc['std']:.2f} | "
                    f"{100 * p['proxy_accuracy']:.2f}% | "
                    f"{p['throughput_fps']:,.0f} | {p['gops_per_w']:.2f} | "
                    f"{_percent(p.get('percentile'))} |"
                )
    words = tie_statements(facts, margin)
    if words:
        lines += ["", *(f"- {w}" for w in words)]
    return lines + [""]


def tie_statements(
    facts: Mapping[str, Mapping[int, dict[str, Any]]],
    margin: float,
    reference: str = "coexplore",
) -> list[str]:
    """Seed by seed, ``reference``'s OptSW's final accuracy against each
    other strategy's, in words under the tie rule (OptSW: the search's pick
    on proxy accuracy, which the test split did not choose)."""
    out = []
    mine = facts.get(reference, {})
    for other, theirs in facts.items():
        if other == reference:
            continue
        for seed in sorted(set(mine) & set(theirs)):
            a, b = mine[seed].get("final_optsw"), theirs[seed].get("final_optsw")
            if a is None or b is None:
                continue
            out.append(
                f"seed {seed}: " + compare_text(reference, a, other, b, margin) + "."
            )
    return out
