"""The demo-time benchmark's real entry point, on the tiny search."""

import json

from tests.launch import run_module
from tests.tiny_search import tiny_flags


def _run(*args):
    flags = tiny_flags(**{"final.max_designs": 1})
    extra = [f"--extra={f}" for f in flags[1:]]
    return run_module(
        "benchmarks.bench_demo", f"--config={flags[0].split('=', 1)[1]}", *extra, *args
    )


def test_times_each_seed_and_goes_on_where_it_stopped(tmp_path):
    out, work = tmp_path / "demo.json", tmp_path / "runs"
    proc = _run("--seeds=0", f"--out={out}", f"--workdir={work}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    first = json.loads(out.read_text())
    (seed0,) = first["seeds"]
    assert seed0["seed"] == 0 and 0 < seed0["search_s"] < seed0["wall_s"]
    # One design finalized over the final seeds (2), each run timed.
    assert len(seed0["final_runs_s"]) == 2 and all(s > 0 for s in seed0["final_runs_s"])
    assert seed0["opt_sw"] and seed0["opt_sw_final"]["seeds"] == 2
    assert 0 <= seed0["final_first_line_after_search_s"] < 30  # before any run
    assert (tmp_path / "report_seed0.md").read_text().startswith("# cosearch run")
    assert first["summary"]["seeds"] == 1

    proc = _run("--seeds=0,1", f"--out={out}", f"--workdir={work}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "1 seed(s) to run (1 in" in proc.stdout
    second = json.loads(out.read_text())
    assert [s["seed"] for s in second["seeds"]] == [0, 1]
    assert second["seeds"][0] == seed0  # seed 0 read, not run again
    assert second["summary"]["max_wall_s"] == max(s["wall_s"] for s in second["seeds"])


def test_missing_out_is_one_line_error():
    proc = _run("--seeds=0")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == "error: --out is required"


def test_a_failing_seed_is_one_line_and_keeps_the_seeds_measured(tmp_path):
    out = tmp_path / "demo.json"
    out.write_text("{not json")
    proc = _run("--seeds=0", f"--out={out}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {out}: cannot read")
    assert out.read_text() == "{not json"  # nothing overwritten
    out.unlink()
    proc = _run("--seeds=0", f"--out={out}", "--extra=--config.space.depth=0")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: seed 0: the demo exited with 2"
    )
    assert not out.exists()
