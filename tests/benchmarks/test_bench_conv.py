"""The conv-rules benchmark's real entry point, in smoke mode."""

import json
import subprocess
import sys


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
