"""A finished run kept by its results alone, and read back without training.

A comparison of many hours (``experiments.compare``) outlives the machine it
ran on only if its finished runs do; their checkpoints and final-training
weights are what makes a run folder large. :func:`archive_run` copies a
finished run's result files (:data:`ARCHIVE_FILES`: its config, logs,
report, designs and final-training records, no checkpoint, no weights)
into another folder; :func:`finished` says whether a folder holds such a
run of a given setup, so that the comparison reads it instead of running
it again (docs/design.md section 6).

A folder counts as a finished run of ``setup`` when it has no checkpoint
(a run with one is resumed as usual), its config.json equals the setup's
on every field a resumed run must share and on the search budget (a run
given another budget is not finished: it is resumed), and its
best_designs.json holds the final training of every design the setup's
final phase plans, with every final seed, at the same final settings. A
finished run of another config is an error, not something run over.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from cosearch.files.jsonl import read_jsonl
from cosearch.final.runner import plan, settings_record
from cosearch.final.store import FINAL_DIR, RUNS_FILE, fingerprint
from cosearch.results import report as report_lib
from cosearch.search.config_checks import SearchConfigError
from cosearch.search.run_state import (
    CONFIG_FILE,
    RUN_INFO_FILE,
    config_differences,
)
from cosearch.search.settings import Setup

CHECKPOINT_DIR = "checkpoints"
# What an archived run keeps: enough to read its results and compare it.
ARCHIVE_FILES = (
    CONFIG_FILE,
    RUN_INFO_FILE,
    "history.jsonl",
    "metrics.jsonl",
    "best_designs.json",
    "pareto.json",
    "report.md",
    os.path.join(FINAL_DIR, RUNS_FILE),
)
# The budget fields a finished run must share with the setup that reads it.
BUDGET_FIELDS = (
    "search.episodes",
    "search.max_children",
    "search.max_train_images",
    "search.max_wall_s",
    "search.max_idle_episodes",
)


def _load(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def _missing_designs(workdir: str, setup: Setup) -> list[str]:
    """Architectures the setup's final phase plans for the run in
    ``workdir`` that its best_designs.json lacks (or holds with fewer
    seeds, or at other final settings)."""
    best = _load(os.path.join(workdir, "best_designs.json"))
    training = best.get("final_training") or {}
    want_id = fingerprint(settings_record(setup.final, setup.dataset))
    if training.get("settings_id") != want_id:
        return ["(final training at other settings)"]
    history = read_jsonl(os.path.join(workdir, "history.jsonl"))
    summary = report_lib.summarize(history, setup.objective, setup.search.opt_hw_margin)
    designs = plan(setup.final, summary.opt_sw, summary.opt_hw, summary.front)
    have = {
        d["architecture"]: d.get("final")
        for d in best.get("finalized", [])
        if d.get("final")
    }
    return [
        pair["architecture"]
        for _, pair in designs
        if have.get(pair["architecture"], {}).get("seeds", 0) < setup.final.seeds
    ]


def finished(workdir: str, setup: Setup) -> bool:
    """Whether ``workdir`` holds a finished run of ``setup`` kept without
    its checkpoints (see the module docstring).

    Raises:
      SearchConfigError: it holds a finished run of another config.
    """
    if os.path.isdir(os.path.join(workdir, CHECKPOINT_DIR)):
        return False
    needed = (CONFIG_FILE, "history.jsonl", "best_designs.json")
    if not all(os.path.exists(os.path.join(workdir, n)) for n in needed):
        return False
    if not setup.final.enabled:
        return False
    saved = _load(os.path.join(workdir, CONFIG_FILE))
    diff = config_differences(saved, setup)
    if diff:
        raise SearchConfigError(
            f"{workdir} holds a finished run of another config (differs in "
            f"{', '.join(diff[:5])}); remove it or use the same config"
        )
    if config_differences(saved, setup, also=BUDGET_FIELDS):
        return False  # another budget: the run goes on (or stops) as usual
    return not _missing_designs(workdir, setup)


def archive_run(workdir: str, dest: str) -> list[str]:
    """Copy a run's result files (:data:`ARCHIVE_FILES`, those it has) from
    ``workdir`` into ``dest``; returns the copied names. Each file is
    written beside its final name and renamed, so an interrupted copy
    leaves the earlier one whole."""
    copied = []
    for name in ARCHIVE_FILES:
        src = os.path.join(workdir, name)
        if not os.path.exists(src):
            continue
        out = os.path.join(dest, name)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copyfile(src, out + ".tmp")
        os.replace(out + ".tmp", out)
        copied.append(name)
    return copied
