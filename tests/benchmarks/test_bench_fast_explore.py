"""The fast-exploration benchmark's real entry point, in smoke mode."""

import json
import math
import subprocess
import sys
from itertools import permutations

import pytest


def test_smoke_writes_and_prints_the_json(tmp_path):
    out = tmp_path / "bench.json"
    command = ["-m", "benchmarks.bench_fast_explore", "--smoke", f"--out={out}"]
    proc = subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert json.loads(out.read_text()) == result
    assert result["smoke"] is True and result["device_kind"]
    assert result["archs_per_s"] > 0 and result["median_s"] > 0
    assert result["archs_per_s"] == result["batch"] / result["median_s"]
    assert result["designs_per_arch"] > result["designs_scanned_per_arch"] > 1
    assert result["designs_per_s"] == result["archs_per_s"] * result["designs_per_arch"]
    assert all(r["declared"] >= 1000 for r in result["grid"])


def test_the_design_count_is_every_partition_and_slot_choice(tmp_path):
    """designs_per_arch counted again by brute force: contiguous stage
    partitions times ordered choices of distinct slots times their grids."""
    out = tmp_path / "bench.json"
    command = ["-m", "benchmarks.bench_fast_explore", "--smoke", f"--out={out}"]
    proc = subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    sizes = [r["declared"] for r in result["grid"]]
    layers = result["layers"]
    want = sum(
        math.comb(layers - 1, m - 1) * sum(math.prod(p) for p in permutations(sizes, m))
        for m in range(1, min(layers, len(sizes)) + 1)
    )
    assert result["designs_per_arch"] == pytest.approx(want, rel=1e-12)  # a float
    kept = [r["feasible"] for r in result["grid"]]
    assert result["designs_scanned_per_arch"] == pytest.approx(
        sum(
            math.comb(layers - 1, m - 1)
            * sum(math.prod(p) for p in permutations(kept, m))
            for m in range(1, min(layers, len(kept)) + 1)
        ),
        rel=1e-12,
    )
