"""Wall time of the README's main command (``make demo``) over seeds.

Runs ``python -m experiments.search --config=experiments/configs/default.py:demo
--config.seed=N --workdir=WORKDIR/seedN --fresh`` (``--config`` chooses
another) for each seed, one after
the other, as a user would from a clone (run it with nothing else on the
machine), and records per seed: the whole wall time (process start to exit,
final training included), the search's and each final run's seconds, how
long after the search the final phase's first line came, and what the run
found (OptSW on final test accuracy and on proxy). The JSON is rewritten
after every seed, and seeds already in it (at the same config and extra
flags) are not run again, so a stopped measurement goes on where it stopped.

    python -m benchmarks.bench_demo --seeds=0,1,2,3,4 \
        --out=experiments/results/demo_default/demo_times.json
    python -m benchmarks.bench_demo --seeds=0 --out=/tmp/d.json \
        --extra=--config.search.max_children=2   # a quicker look

The run's own outputs stay in WORKDIR/seedN; report.md of each seed is
copied beside the JSON (``report_seedN.md``).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from absl import flags

from cosearch.errors import UserError
from cosearch.files.jsonl import read_jsonl
from experiments import common

CONFIG = "experiments/configs/default.py:demo"  # what `make demo` runs
LIMIT_S = 720.0  # what the README promises: within 12 minutes

_CONFIG = flags.DEFINE_string(
    "config", CONFIG, "The config file (the demo's; tests pass a smaller one)."
)
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "Search seeds to run.")
_OUT = flags.DEFINE_string("out", None, "The benchmark JSON (rewritten per seed).")
_WORKDIR = flags.DEFINE_string(
    "workdir", "runs/bench_demo", "Each seed's run goes to WORKDIR/seedN."
)
_EXTRA = flags.DEFINE_multi_string(
    "extra", [], "More experiments.search flags, e.g. --config.search.max_children=2."
)


def command(seed: int, workdir: str, extra: Sequence[str]) -> list[str]:
    """The demo's command for ``seed`` (``make demo`` is seed 0)."""
    return [
        sys.executable,
        "-m",
        "experiments.search",
        f"--config={_CONFIG.value}",
        f"--config.seed={seed}",
        f"--workdir={workdir}",
        "--fresh",
        *extra,
    ]


def run_seed(seed: int, workdir: str, extra: Sequence[str]) -> dict[str, Any]:
    """Run the demo at ``seed``, echoing its lines; its timings and findings."""
    t0 = time.perf_counter()
    search_done = final_line = None
    with subprocess.Popen(
        command(seed, workdir, extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as proc:
        for line in proc.stdout:
            now = time.perf_counter() - t0
            print(f"  [{now:6.0f} s] {line}", end="", flush=True)
            if line.startswith("search done") and search_done is None:
                search_done = now
            if line.startswith("final training:") and final_line is None:
                final_line = now
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        # Its own error line is above; the seeds measured before are kept.
        raise UserError(f"seed {seed}: the demo exited with {proc.returncode}")
    info = _read_json(os.path.join(workdir, "run_info.json"))
    best = _read_json(os.path.join(workdir, "best_designs.json"))
    runs = read_jsonl(os.path.join(workdir, "final", "runs.jsonl"))
    # The search's own pick (on proxy accuracy) with its final accuracy.
    opt_sw = best.get("proxy_OptSW") or {}
    return {
        "seed": seed,
        "wall_s": wall,
        "within_limit": wall <= LIMIT_S,
        "search_s": info.get("wall s"),
        "children": info.get("children trained"),
        "final_runs_s": [r["timing"]["wall_s"] for r in runs],
        "final_first_line_after_search_s": None
        if search_done is None or final_line is None
        else final_line - search_done,
        "opt_sw": opt_sw.get("architecture"),
        "opt_sw_final": opt_sw.get("final"),
        "opt_sw_percentile": opt_sw.get("percentile"),
        "opt_sw_proxy": opt_sw.get("accuracy"),
        "opt_sw_images_per_s": opt_sw.get("throughput_fps"),
    }


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: cannot read it ({e})") from None


def summary(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and worst wall time over the seeds measured."""
    walls = [s["wall_s"] for s in seeds]
    return {
        "seeds": len(walls),
        "median_wall_s": statistics.median(walls),
        "max_wall_s": max(walls),
        "all_within_limit": all(s["within_limit"] for s in seeds),
    }


def main(argv: Sequence[str]) -> None:
    common.require(argv, out=_OUT.value)
    seeds = common.parse_int_list(_SEEDS.value, "--seeds")
    extra = list(_EXTRA.value)
    result: dict[str, Any] = {
        "command": " ".join(command(0, "WORKDIR", extra)[1:]),
        "limit_s": LIMIT_S,
        "config": _CONFIG.value,
        "extra": extra,
        "environment": common.environment(),
        "seeds": [],
    }
    if os.path.exists(_OUT.value):
        before = _read_json(_OUT.value)
        if (before.get("config"), before.get("extra")) == (_CONFIG.value, extra):
            result["seeds"] = before.get("seeds", [])
    done = {s["seed"] for s in result["seeds"]}
    todo = [s for s in seeds if s not in done]
    print(
        f"demo timing: {len(todo)} seed(s) to run ({len(done)} in {_OUT.value}); "
        f"limit {LIMIT_S:.0f} s each",
        flush=True,
    )
    out_dir = os.path.dirname(os.path.abspath(_OUT.value))
    for i, seed in enumerate(todo):
        workdir = os.path.join(_WORKDIR.value, f"seed{seed}")
        print(f"== seed {seed} ({i + 1}/{len(todo)}) -> {workdir}", flush=True)
        record = run_seed(seed, workdir, extra)
        shutil.copyfile(
            os.path.join(workdir, "report.md"),
            os.path.join(out_dir, f"report_seed{seed}.md"),
        )
        result["seeds"] = sorted([*result["seeds"], record], key=lambda s: s["seed"])
        result["summary"] = summary(result["seeds"])
        common.write_benchmark(result, _OUT.value)
        walls = [s["wall_s"] for s in result["seeds"]]
        left = statistics.median(walls) * (len(todo) - i - 1)
        print(
            f"seed {seed}: {record['wall_s']:.0f} s "
            f"({'within' if record['within_limit'] else 'OVER'} {LIMIT_S:.0f} s; "
            f"search {record['search_s']:.0f} s, final runs "
            + ", ".join(f"{s:.0f}" for s in record["final_runs_s"])
            + f" s) | ETA {left / 60:.0f} min",
            flush=True,
        )


if __name__ == "__main__":
    common.run(main, compile_cache=False)
