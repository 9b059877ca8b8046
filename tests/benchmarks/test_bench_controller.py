"""The controller benchmark's real entry point, in smoke mode."""

import json

from tests.launch import run_module


def _run(*args):
    return run_module("benchmarks.bench_controller", *args, timeout=300)


def test_smoke_writes_and_prints_the_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = _run("--smoke", f"--out={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    result = json.loads(last)
    assert json.loads(out.read_text()) == result
    assert result["benchmark"] == "controller" and result["smoke"] is True
    assert result["device_kind"] and result["num_tokens"] == 10 * 2 + 10 + 4 * 8
    sizes = [str(b) for b in result["batch_sizes"]]
    for key in ("samples_per_s", "updates_per_s", "sample_ms", "update_ms"):
        assert sorted(result[key]) == sorted(sizes), key
        assert all(v > 0 for v in result[key].values()), key
    for b in sizes:
        # Sequences per second = batch / seconds per sampling call.
        want = int(b) / (result["sample_ms"][b] / 1e3)
        assert abs(result["samples_per_s"][b] - want) < 1e-6 * want


def test_bad_flag_is_one_line_error():
    proc = _run("--batch_sizes=16,0")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: --batch_sizes: values must be positive, got '16,0'"
    )
