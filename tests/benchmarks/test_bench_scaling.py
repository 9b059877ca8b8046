"""The scaling benchmark's real entry point, in smoke mode."""

import os

from benchmarks.bench_scaling import _max_count
from tests.launch import run_module, smoke_benchmark


def _run(*args):
    return run_module("benchmarks.bench_scaling", *args, clear_xla_flags=True)


def test_smoke_writes_and_prints_the_json(tmp_path):
    result = smoke_benchmark("benchmarks.bench_scaling", tmp_path)
    # Every count gave exactly the single-device results.
    assert result["agree"] is True, result["disagreements"]
    assert result["cores"] == os.cpu_count()
    # XLA_FLAGS unset: the launcher asked for max(default counts) = 4 host
    # devices; the smoke run times 1 and 2 of them.
    assert result["device_count"] == 4
    assert result["device_counts"] == [1, 2] and result["skipped"] == []
    rows = result["rows"]
    assert [r["devices"] for r in rows] == [1, 2]
    for row in rows:
        for key in ("pairs_per_s", "archs_per_s", "cost_model_compile_s"):
            assert row[key] > 0, key
        assert set(row["speedup_vs_one"]) == {"pairs_per_s", "archs_per_s"}
        assert (
            abs(row["archs_per_s"] - result["archs"] / row["optimizer_s"])
            < 1e-6 * row["archs_per_s"]
        )
    assert rows[0]["speedup_vs_one"] == {"pairs_per_s": 1.0, "archs_per_s": 1.0}
    # 3 architectures on 2 devices (padded to 4): both devices used.
    assert rows[1]["optimizer_devices"] == 2 and rows[1]["cost_model_devices"] == 2


def test_max_count_reads_the_flag_before_parsing():
    assert _max_count(["prog"]) == 4
    assert _max_count(["prog", "--device_counts=1,8,2"]) == 8
    assert _max_count(["prog", "--device_counts", "3"]) == 3
    assert _max_count(["prog", "--device_counts=x"]) == 1


def test_bad_flag_is_one_line_error():
    proc = _run("--device_counts=1,0")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: --device_counts: values must be positive, got '1,0'"
    )
