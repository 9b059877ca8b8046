"""The fast-exploration benchmark's real entry point, in smoke mode."""

import json
import subprocess
import sys


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
