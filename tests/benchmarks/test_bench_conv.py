"""The conv-rules benchmark's real entry point, in smoke mode."""

import json
import subprocess
import sys

import pytest

from tests.launch import run_module


def test_smoke_writes_and_prints_the_json(tmp_path):
    out = tmp_path / "bench.json"
    command = ["-m", "benchmarks.bench_conv", "--smoke", f"--out={out}"]
    proc = subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert json.loads(out.read_text()) == result
    assert result["smoke"] is True and result["device_kind"]
    assert [(r["kernel"], r["in_channels"]) for r in result["shapes"]] == [
        (1, 3),
        (3, 3),
    ]
    for row in result["shapes"]:
        assert all(v > 0 for v in row["ms"].values())
        for part in ("value", "dx", "dw"):
            assert row[part]["rule_over_fastest"] > 0
            assert row[part]["fastest"].startswith(part + "/")
        assert row["layer_speedup_vs_xla"] > 0
    # A 1x1 layer has the matrix-product variants; a 3x3 one does not.
    assert "value/matmul" in result["shapes"][0]["ms"]
    assert "value/matmul" not in result["shapes"][1]["ms"]


def test_peer_smoke_times_each_layer_against_torch(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "peer.json"
    proc = run_module(
        "benchmarks.bench_conv",
        "--peer",
        "--smoke",
        "--layers=3,8,1;5,8,2;1,4,1",
        "--input=9x9x3",
        f"--out={out}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["benchmark"] == "bench_conv_peer" and result["smoke"] is True
    rows = result["rows"]
    # The chain of shapes: 9x9x3 -> 9x9x8 -> (stride 2) 5x5x8.
    assert [
        (r["kernel"], r["in_channels"], r["stride"], r["input_hw"]) for r in rows
    ] == [
        (3, 3, 1, [9, 9]),
        (5, 8, 2, [9, 9]),
        (1, 8, 1, [5, 5]),
    ]
    assert [r["input_gradient"] for r in rows] == [False, True, True]
    for r in rows:
        # The same convolution in both frameworks (float32 rounding only).
        assert all(d < 1e-4 for d in r["max_abs_diff_value_vs_torch"].values())
        # Stride 2 also runs as a space-to-depth stride-1 conv.
        assert ("s2d_train" in r["ms"]) == (r["stride"] == 2)
        assert r["ms"]["jax_train"] == r["ms"]["jax_value"] + r["ms"]["jax_backward"]
        assert all(v > 0 for v in r["gflops_per_s"].values())
    total = result["total_train_ms"]
    assert result["jax_over_torch_train"] == total["torch_train"] / total["jax_train"]
    assert result["peak_flops_per_s"] > 0 and result["xla_flags"] is not None


@pytest.mark.parametrize(
    "arg,said",
    [
        ("--layers=3,x,1", "layer 0"),
        ("--layers=3,8,1;4,8,1", "layer 1 has an even kernel"),
        ("--input=99999x9x1", "--input/--batch: Layer.r"),
        ("--batch=0", "--input/--batch: Layer.b"),
    ],
)
def test_peer_rejects_bad_input_in_one_line(arg, said):
    proc = run_module("benchmarks.bench_conv", "--peer", arg)
    assert proc.returncode != 0
    assert said in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("k,size", [(1, 8), (3, 9), (5, 8), (7, 7)])
def test_space_to_depth_is_the_stride_two_conv(k, size):
    import jax
    import numpy as np

    from benchmarks.conv_peer import space_to_depth_conv
    from cosearch.child import conv

    x = jax.random.normal(jax.random.key(0), (2, size, size, 3))
    w = jax.random.normal(jax.random.key(1), (k, k, 3, 5))
    want = conv.conv_xla(x, w, 2)
    got = space_to_depth_conv(x, w)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
