"""The fast-loop benchmark's real entry point, in smoke mode."""

import os

from tests.launch import run_module, smoke_benchmark


def _run(*args):
    return run_module("benchmarks.bench_fast_loop", *args, clear_xla_flags=True)


def test_smoke_writes_and_prints_the_json(tmp_path):
    result = smoke_benchmark("benchmarks.bench_fast_loop", tmp_path)
    assert result["agree"] is True, result["disagreements"]
    for key in ("pairs_per_s", "numpy_pairs_per_s", "reference_pairs_per_s"):
        assert result[key] > 0, key
    ratio = result["pairs_per_s"] / result["reference_pairs_per_s"]
    assert abs(result["speedup_vs_reference"] - ratio) < 1e-9 * ratio
    row = result["sizes"][-1]
    assert row["batch"] == result["batch"] and row["compile_s"] > 0
    assert (
        abs(row["pairs_per_s"] - row["batch"] / row["jax_s"])
        < 1e-6 * row["pairs_per_s"]
    )
    # The launcher asks for one host device per core and shards the batch over
    # them (agree above includes sharded == one device, exactly).
    assert result["device_count"] == (os.cpu_count() or 1)
    assert 1 <= row["devices"] <= result["device_count"]
    assert row["batch"] % row["devices"] == 0
    assert row["one_device_pairs_per_s"] > 0
    assert result["one_device_pairs_per_s_by_batch"] == {
        str(row["batch"]): row["one_device_pairs_per_s"]
    }


def test_bad_flag_is_one_line_error():
    proc = _run("--sizes=100,0")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: --sizes: values must be positive, got '100,0'"
    )
