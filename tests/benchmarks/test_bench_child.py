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


def test_bench_child_batched_smoke(tmp_path):
    """Both paths timed in one run, for each K; the same children reach the
    same accuracies (to one validation image) either way."""
    from tests.launch import smoke_benchmark

    result = smoke_benchmark(
        "benchmarks.bench_child", tmp_path, "--batched", "--val_images=200"
    )
    assert result["benchmark"] == "bench_child_batched"
    assert result["spaces"]["default"]["val_images"] == 200
    rows = result["spaces"]["default"]["counts"]
    assert sorted(rows) == ["1", "2"]
    # A program of two children holds twice the images of one.
    assert rows["2"]["batched_step_bytes"] > rows["1"]["batched_step_bytes"] > 0
    for k, row in rows.items():
        assert row["children"] == int(k)
        assert row["batched_s"] > 0 and row["per_arch_s"] > 0
        assert row["speedup"] == row["per_arch_s"] / row["batched_s"]
        assert row["batched_children_per_hour"] == 3600 * int(k) / row["batched_s"]
        assert row["max_accuracy_diff"] <= 1 / 200 + 1e-12
