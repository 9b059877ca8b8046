"""Smoke run of the real bench_child entry point."""

import json
import subprocess
import sys


def test_bench_child_smoke(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_child", "--smoke", f"--out={out}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == result
    for key in ("jax_images_per_s", "torch_images_per_s", "ratio", "compile_s"):
        assert key in result
    assert result["device_kind"] and result["jax_images_per_s"] > 0
    shape = result["shapes"]["8x8x1"]
    assert shape["compile_s"] > 0
    if result["torch_version"] is not None:
        assert shape["ratio"] == shape["jax_images_per_s"] / shape["torch_images_per_s"]
