"""The final phase of a search: finalize its designs, then rewrite its
results with their final test accuracies.

Run by :func:`cosearch.search.loop.run` once the search's budget is spent (and
again, with nothing to train, when a finished search is run again), and by
``experiments.finalize`` for more of the front or an older run. The
workdir's report.md, best_designs.json, pareto.json and pareto.png then
carry each finalized design's final test accuracy (mean and spread over
seeds) beside its proxy accuracy, and OptSW and OptHW chosen again on it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from cosearch.files.jsonl import read_jsonl
from cosearch.final.reference import ReferenceSet
from cosearch.final.results import FinalAccuracy, choose, compare_text
from cosearch.final.runner import FinalOutcome, finalize, plan
from cosearch.final.store import FinalStore
from cosearch.results import report as report_lib


def final_view(
    outcome: FinalOutcome,
    objective: str,
    margin: float,
    reference: ReferenceSet | None = None,
) -> dict[str, Any]:
    """The final-training part of a run's results (JSON-able).

    Keys: ``settings`` (budget, data, seeds), ``tie_margin``, ``designs``
    (role, architecture, proxy and final accuracy, its ``percentile`` in the
    reference set (None without one) and the pair record of each finalized
    design), ``OptSW`` / ``OptHW`` (chosen again on final accuracy; their
    records carry ``final`` and ``percentile``), ``statements`` (sentences
    comparing them under the tie rule) and ``reference`` (the set's size,
    or None).
    """
    finals = outcome.finals

    def percentile(arch: str) -> float | None:
        if reference is None or arch not in finals:
            return None
        return reference.percentile(finals[arch].mean)

    def with_final(pair: dict[str, Any] | None) -> dict[str, Any] | None:
        if pair is None:
            return None
        acc = finals.get(pair["architecture"])
        return {
            **pair,
            "final": None if acc is None else acc.as_dict(),
            "percentile": percentile(pair["architecture"]),
        }

    pairs = [p for _, p in outcome.picks]
    opt_sw, opt_hw = choose(
        pairs, finals, lambda p: report_lib.hw_value(p, objective), margin
    )
    statements = []
    said: frozenset[str] = frozenset()
    if opt_sw is not None and opt_hw is not None:
        if opt_sw["architecture"] != opt_hw["architecture"]:
            a = finals[opt_sw["architecture"]].mean
            b = finals[opt_hw["architecture"]].mean
            statements.append(compare_text("OptSW", a, "OptHW", b, outcome.margin))
            said = frozenset((opt_sw["architecture"], opt_hw["architecture"]))
    statements += ranking_statements(pairs, finals, outcome.margin, said)
    return {
        "settings": {**outcome.settings, "seeds": _seeds(finals)},
        "settings_id": outcome.settings_id,
        "tie_margin": outcome.margin,
        "designs": [
            {
                "role": role,
                "architecture": pair["architecture"],
                "proxy_accuracy": pair["accuracy"],
                "final": None
                if pair["architecture"] not in finals
                else finals[pair["architecture"]].as_dict(),
                "percentile": percentile(pair["architecture"]),
                "pair": pair,
            }
            for role, pair in outcome.picks
        ],
        "reference": None
        if reference is None
        else {
            "architectures": int(reference.complete.sum()),
            "seeds": len(reference.seeds),
        },
        "OptSW": with_final(opt_sw),
        "OptHW": with_final(opt_hw),
        "statements": statements,
        "accuracy": {a: f.as_dict() for a, f in finals.items()},
    }


def ranking_statements(
    pairs: list[dict[str, Any]],
    finals: dict[str, FinalAccuracy],
    margin: float,
    said: frozenset[str] = frozenset(),
) -> list[str]:
    """Sentences on the finalized architectures in order of final accuracy:
    each against the next (tie or not; not the pair ``said``, already
    compared as OptSW and OptHW), and whether the proxy ranked them the same
    way."""
    best_proxy: dict[str, float] = {}
    for p in pairs:
        if p["architecture"] in finals:
            arch = p["architecture"]
            best_proxy[arch] = max(best_proxy.get(arch, 0.0), p["accuracy"])
    order = sorted(best_proxy, key=lambda a: -finals[a].mean)
    out = [
        compare_text(f"`{a}`", finals[a].mean, f"`{b}`", finals[b].mean, margin)
        for a, b in zip(order, order[1:], strict=False)
        if frozenset((a, b)) != said
    ]
    if len(order) >= 2:
        by_proxy = sorted(order, key=lambda a: -best_proxy[a])
        out.append(
            "the proxy ranked these architectures in the same order"
            if by_proxy == order
            else "the proxy ranked these architectures in another order ("
            + ", ".join(f"`{a}` {100 * best_proxy[a]:.2f}%" for a in by_proxy)
            + ")"
        )
    return out


def _seeds(finals: dict[str, FinalAccuracy]) -> int:
    return max((f.seeds for f in finals.values()), default=0)


def planned(
    setup: Any, history: list[dict[str, Any]], max_designs: int | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The designs the final phase of the search ``setup`` describes trains
    for its ``history``: its OptSW, OptHW and front as the proxy summarises
    them (:func:`cosearch.final.runner.plan`)."""
    summary = report_lib.summarize(history, setup.objective, setup.search.opt_hw_margin)
    return plan(setup.final, summary.opt_sw, summary.opt_hw, summary.front, max_designs)


def run_final(
    setup: Any,
    workdir: str,
    run_info: dict[str, Any],
    trainer: Any,
    log: Callable[[str], None] = print,
    max_designs: int | None = None,
) -> report_lib.Summary:
    """Finalize a search's designs and rewrite its results with them.

    Args:
      setup: the search's :class:`cosearch.search.setup.Setup`.
      workdir: the search's output folder (history.jsonl, metrics.jsonl).
      run_info: the run's key facts for report.md.
      trainer: a :class:`cosearch.child.train.Trainer`.
      log: progress lines.
      max_designs: distinct architectures to finalize (None:
        ``setup.final.max_designs``).

    Returns:
      The search's summary (its proxy OptSW, OptHW and front).
    """
    history = read_jsonl(os.path.join(workdir, "history.jsonl"))
    metrics_path = os.path.join(workdir, "metrics.jsonl")
    metrics = read_jsonl(metrics_path) if os.path.exists(metrics_path) else []
    margin = setup.search.opt_hw_margin
    designs = planned(setup, history, max_designs)
    outcome = finalize(
        setup.final, setup.dataset, FinalStore(workdir), designs, trainer, log
    )
    view = final_view(outcome, setup.objective, margin, setup.reference)
    return report_lib.write_outputs(
        workdir,
        history,
        run_info,
        objective=setup.objective,
        margin=margin,
        metrics=metrics,
        final=view,
    )
