"""A finished run kept by its results alone, and read back without training.

A comparison of many hours (``experiments.compare``) outlives the machine it
ran on only if its finished runs do; their checkpoints and final-training
weights are what makes a run folder large. :func:`archive_run` copies a
finished run's result files (:data:`ARCHIVE_FILES`: its config, logs,
report, designs and final-training records, no checkpoint, no weights)
into another folder; :func:`finished` says whether a folder holds such a
run of a given setup, so that the comparison reads it instead of running
it again (docs/design.md section 6). A run stopped part-way (Ctrl-C) is kept
whole instead (:func:`keep_in_flight`: checkpoints and weights too, a few
MB) and copied back into an empty workdir to resume
(:func:`restore_in_flight`).

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
from cosearch.final.phase import planned
from cosearch.final.runner import settings_id
from cosearch.final.store import FINAL_DIR, RUNS_FILE
from cosearch.search.config_checks import SearchConfigError
from cosearch.search.run_state import (
    BUDGET_FIELDS,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    RUN_INFO_FILE,
    config_differences,
)
from cosearch.search.settings import Setup
from cosearch.search.workdir import LOCK_FILE

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


def _load(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def _final_complete(workdir: str, setup: Setup) -> bool:
    """Whether the run in ``workdir`` holds, at the setup's final settings,
    every design its final phase plans with every final seed."""
    best = _load(os.path.join(workdir, "best_designs.json"))
    training = best.get("final_training") or {}
    if training.get("settings_id") != settings_id(setup.final, setup.dataset):
        return False
    have = {
        d["architecture"]: d["final"]["seeds"]
        for d in best.get("finalized", [])
        if d.get("final")
    }
    history = read_jsonl(os.path.join(workdir, "history.jsonl"))
    return all(
        have.get(pair["architecture"], 0) >= setup.final.seeds
        for _, pair in planned(setup, history)
    )


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
    diff = config_differences(saved, setup, also=BUDGET_FIELDS)
    other = [k for k in diff if k not in BUDGET_FIELDS]
    if other:
        raise SearchConfigError(
            f"{workdir} holds a finished run of another config (differs in "
            f"{', '.join(other[:5])}); remove it or use the same config"
        )
    # Another budget: not finished (the run is resumed, or stops, as usual).
    return not diff and _final_complete(workdir, setup)


def keep_in_flight(workdir: str, dest: str) -> None:
    """Copy a run stopped part-way (Ctrl-C) whole into ``dest``: its
    checkpoints, training journal and final-training weights too (a few
    MB), so that :func:`restore_in_flight` on another machine resumes it
    where it stopped. Written beside ``dest`` and swapped in."""
    tmp = dest.rstrip(os.sep) + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(workdir, tmp, ignore=shutil.ignore_patterns(LOCK_FILE))
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)


def restore_in_flight(kept: str, workdir: str) -> bool:
    """Copy a run kept in flight (:func:`keep_in_flight`: ``kept`` holds
    checkpoints) into ``workdir`` when ``workdir`` holds no checkpoint of
    its own; True when copied. The resume then checks its config as any
    resume does."""
    if not os.path.isdir(os.path.join(kept, CHECKPOINT_DIR)):
        return False
    if os.path.isdir(os.path.join(workdir, CHECKPOINT_DIR)):
        return False
    shutil.copytree(
        kept, workdir, ignore=shutil.ignore_patterns(LOCK_FILE), dirs_exist_ok=True
    )
    return True


def archive_run(workdir: str, dest: str) -> list[str]:
    """Copy a run's result files (:data:`ARCHIVE_FILES`, those it has) from
    ``workdir`` into ``dest``; returns the copied names. Each file is
    written beside its final name and renamed, so an interrupted copy
    leaves the earlier one whole."""
    # A copy kept in flight before is replaced by the results alone.
    shutil.rmtree(os.path.join(dest, CHECKPOINT_DIR), ignore_errors=True)
    shutil.rmtree(os.path.join(dest, FINAL_DIR), ignore_errors=True)
    for name in os.listdir(dest) if os.path.isdir(dest) else ():
        path = os.path.join(dest, name)
        if os.path.isfile(path) and name not in ARCHIVE_FILES:
            os.unlink(path)
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
