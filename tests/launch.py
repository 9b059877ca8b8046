"""Running a launcher the way a user does: a fresh Python process."""

import json
import os
import subprocess
import sys


def run_module(module: str, *args: str, clear_xla_flags: bool = False, timeout=300):
    """``python -m module args...`` with captured text output.

    ``clear_xla_flags`` drops XLA_FLAGS from the environment, so that the
    launcher's own choice of host device count is what runs.
    """
    env = dict(os.environ)
    if clear_xla_flags:
        env.pop("XLA_FLAGS", None)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def smoke_benchmark(module: str, tmp_path, *args: str) -> dict:
    """Run a benchmark with ``--smoke --out=...``: its JSON, checked to be the
    printed last line and the file's content."""
    out = tmp_path / "bench.json"
    proc = run_module(module, "--smoke", f"--out={out}", *args, clear_xla_flags=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert json.loads(out.read_text()) == result
    assert result["smoke"] is True and result["device_kind"] and result["jax_version"]
    return result
