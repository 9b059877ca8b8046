"""The final-runs benchmark's real entry point, on the tiny config."""

import json

from tests.launch import run_module
from tests.tiny_search import tiny_flags

ARCH = "3,8,1;3,8,1"  # the tiny space's depth (2 layers)


def _run(*args):
    return run_module(
        "benchmarks.bench_final_runs", *tiny_flags(), f"--architecture={ARCH}", *args
    )


def test_times_each_worker_count_and_the_accuracies_agree(tmp_path):
    out = tmp_path / "final_runs.json"
    proc = _run("--workers=1,2", "--rounds=2", "--steps=3", f"--out={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(out.read_text())
    assert got["architectures"] == [ARCH] and got["steps"] == 3
    # Two rounds of each count, alternating (1, 2, 2, 1).
    assert [len(got["wall_s"][w]) for w in ("1", "2")] == [2, 2]
    assert got["same_accuracies"] is True
    assert [(a["architecture"], a["seed"]) for a in got["accuracies"]] == [
        (ARCH, 0),
        (ARCH, 1),
    ]
    assert got["speedup_vs_first"]["1"] == 1.0
    assert "round 4/4: 1 at once" in proc.stdout and "ETA" in proc.stdout


def test_bad_flags_end_in_one_line(tmp_path):
    out = tmp_path / "final_runs.json"
    proc = _run("--workers=0", f"--out={out}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: --workers values and --rounds must be >= 1"
    )
    proc = _run("--steps=3")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == "error: --out is required"
    assert not out.exists()
