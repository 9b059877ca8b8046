"""experiments.finalize: more of a run finalized, an older run, bad input."""

import json
import os

from cosearch.search import loop as search
from tests.helpers import quiet
from tests.launch import run_module
from tests.tiny_search import tiny


def test_finalize_an_older_run_then_one_more_design(tmp_path):
    workdir = str(tmp_path / "run")
    # Seed 3: a front of three designs (the test finalizes two).
    search.run(tiny(**{"search.episodes": 2, "seed": 3}), workdir, log=quiet)
    # A run made before final training existed: no final group, no head.
    path = os.path.join(workdir, "config.json")
    config = json.load(open(path))
    del config["final"], config["train"]["head"]
    json.dump(config, open(path, "w"))
    out = run_module(
        "experiments.finalize",
        f"--workdir={workdir}",
        "--max_designs=1",
        "--steps=3",
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "final 2/2" in out.stdout and "OptSW" in out.stdout
    best = json.load(open(os.path.join(workdir, "best_designs.json")))
    assert best["final_training"]["settings"]["train"]["head"] == "flatten"
    assert best["OptSW"]["final"]["seeds"] == 2
    # Finalizing more of the front trains only the new architecture.
    out = run_module(
        "experiments.finalize", f"--workdir={workdir}", "--max_designs=2", "--steps=3"
    )
    assert out.returncode == 0, out.stderr[-2000:]
    best = json.load(open(os.path.join(workdir, "best_designs.json")))
    archs = {d["architecture"] for d in best["finalized"]}
    runs = open(os.path.join(workdir, "final", "runs.jsonl")).read().splitlines()
    assert len(archs) == 2 and len(runs) == 4
    assert "2 done before" in out.stdout  # the first architecture's runs reused


def test_a_run_with_final_training_off_needs_max_designs(tmp_path):
    workdir = str(tmp_path / "run")
    search.run(tiny(**{"search.episodes": 1}), workdir, log=quiet)  # max_designs 0
    out = run_module("experiments.finalize", f"--workdir={workdir}")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "error: the run's final.max_designs is 0 (final training was off): pass "
        "--max_designs=N"
    )


def test_bad_workdirs_end_in_one_line(tmp_path):
    out = run_module("experiments.finalize", f"--workdir={tmp_path / 'none'}")
    assert out.returncode == 2 and out.stderr.strip() == (
        f"error: --workdir: no such directory: {tmp_path / 'none'}"
    )
    out = run_module("experiments.finalize", f"--workdir={tmp_path}")
    assert out.returncode == 2 and "no config.json" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
