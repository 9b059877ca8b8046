"""Strategies run over seeds on one config, then compared
(docs/design.md section 6).

:func:`run_strategies` runs each (seed, strategy) search, with its final
phase, in ``workdir/seed<N>/<strategy>`` (resumable like a search) and
writes :mod:`cosearch.search.comparison`'s files from what they found, after
every run.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cosearch.files.jsonl import read_jsonl
from cosearch.search import loop
from cosearch.search.archive import (
    archive_run,
    finished,
    keep_in_flight,
    restore_in_flight,
)
from cosearch.search.comparison import write
from cosearch.search.config_checks import SearchConfigError
from cosearch.search.setup import build
from cosearch.search.strategies import STRATEGIES
from cosearch.search.workdir import check_workdir


def run_strategies(
    config,
    workdir: str,
    strategies,
    seeds=None,
    fresh=False,
    log=print,
    adjust=None,
    notes=None,
    archive: str | None = None,
) -> str:
    """Run each of ``strategies`` for each seed of ``seeds`` (default: the
    config's seed) on ``config``, each in ``workdir/seed<N>/<strategy>``
    (resumable like a search), seed by seed; after every run, write the
    comparison files of :func:`cosearch.search.comparison.write` into
    ``workdir`` from the runs done so far (a comparison stopped part-way
    leaves what it measured). Returns the text of the last comparison.md.

    Each run's config is ``config`` with its strategy and seed set (then
    ``adjust(config, strategy)``, if given, may change it further, e.g. one
    strategy's budget), built once (:func:`cosearch.search.setup.build`);
    the comparison's settings are read from those typed setups, with
    ``notes`` (``{name: text}``, e.g. what ``adjust`` changes) added.

    With ``archive`` (a folder), each run's result files are copied to
    ``archive/seed<N>/<strategy>`` when it ends, without its checkpoints
    and weights (:mod:`cosearch.search.archive`), and a run found finished
    there (or in ``workdir`` kept that way) is read, not run again; a run
    stopped by Ctrl-C is kept there whole (checkpoints and weights) and
    copied back into an empty workdir to resume: a comparison goes on
    from its archive on another machine.

    Raises:
      SearchConfigError: an unknown strategy (before anything runs), or any
        problem of the config (see :func:`cosearch.search.loop.run_setup`).
    """
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise SearchConfigError(
            f"strategies: unknown {unknown}; known: {', '.join(STRATEGIES)}"
        )
    if archive:
        check_workdir(archive)  # an unwritable archive fails now, not after a run
    runs: dict[str, dict[int, tuple]] = {name: {} for name in strategies}
    first = None
    seed_list = list(seeds) if seeds else [None]
    total, done = len(seed_list) * len(strategies), 0
    text = ""
    for seed in seed_list:
        for name in strategies:
            cfg = config.copy_and_resolve_references()
            cfg.strategy = name
            if seed is not None:
                cfg.seed = seed
            if adjust is not None:
                adjust(cfg, name)
            setup = build(cfg)
            first = first or setup
            sub = os.path.join(workdir, f"seed{setup.seed}", name)
            kept = archive and os.path.join(archive, f"seed{setup.seed}", name)
            log(f"== run {done + 1}/{total}: seed {setup.seed}, {name} -> {sub}")
            where = next(
                (d for d in (kept, sub) if d and not fresh and finished(d, setup)),
                None,
            )
            if where is not None:
                log(f"finished before: its results read from {where}")
            else:
                where = sub
                if kept and not fresh and restore_in_flight(kept, sub):
                    log(f"resuming the run kept in flight in {kept}")
                try:
                    loop.run_setup(setup, sub, fresh=fresh, log=log)
                except KeyboardInterrupt:
                    if kept and os.path.isdir(sub):
                        keep_in_flight(sub, kept)
                        log(f"the run so far kept in {kept} (checkpoints included)")
                    raise
                if kept:
                    archive_run(sub, kept)
                    log(f"its results kept in {kept}")
            runs[name][setup.seed] = (
                read_jsonl(os.path.join(where, "history.jsonl")),
                read_jsonl(os.path.join(where, "metrics.jsonl")),
                final_view(where, setup.reference),
            )
            done += 1
            text = _write(workdir, runs, strategies, first, notes)
            if done < total:
                log(f"comparison of the {done} run(s) done so far written to {workdir}")
    return text


def _write(workdir, runs, strategies, first, notes) -> str:
    """The comparison files of the runs in ``runs`` (those not run yet
    left out), the settings read from the first run's setup."""
    s = first.search
    settings = {
        "strategies": ", ".join(strategies),
        "budget": (
            f"max_children={s.max_children or 'no limit'}, "
            f"max_train_images={s.max_train_images or 'no limit'}, "
            f"episodes={s.episodes or 'no limit'}, "
            f"max_wall_s={s.max_wall_s or 'no limit'}"
        ),
        "candidates per episode (coexplore, random)": s.candidates,
        "children per episode": s.children_per_episode,
        "platform": first.platform.name,
        "specs": first.spec_text(),
        "data": first.dataset.name,
        "depth": first.full_space.arch.depth,
        **(notes or {}),
    }
    final = first.final if first.final.enabled else None
    if final is not None:
        settings["final training"] = (
            f"{final.train.steps} steps, {final.seeds} seeds, up to "
            f"{final.max_designs} architectures per run, tie margin "
            f"{100 * final.margin:.2f} points"
        )
    return write(
        workdir,
        {name: by_seed for name, by_seed in runs.items() if by_seed},
        settings,
        s.opt_hw_margin,
        objective=first.objective,
        tie_margin=None if final is None else final.margin,
    )


def final_view(workdir: str, reference=None) -> dict[str, Any] | None:
    """A run's final view from its best_designs.json (None before a final
    training); with ``reference`` (a :class:`cosearch.final.reference.ReferenceSet`)
    each design's percentile is taken in it as it stands now (the set may
    have grown since the run)."""
    path = os.path.join(workdir, "best_designs.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        best = json.load(f)
    if "finalized" not in best:
        return None
    designs = best["finalized"]
    if reference is not None:
        designs = [
            {**d, "percentile": reference.percentile(d["final"]["mean"])}
            if d.get("final")
            else d
            for d in designs
        ]
    return {
        "designs": designs,
        "OptSW": best["OptSW"],
        **best["final_training"],
    }
