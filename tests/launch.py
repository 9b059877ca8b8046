"""Running a launcher the way a user does: a fresh Python process."""

import json
import os
import socket
import subprocess
import sys

from tests.tiny_search import tiny_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def host_devices_env(devices: int = 1) -> dict[str, str]:
    """This environment with ``devices`` virtual CPU devices for JAX."""
    flag = f"--xla_force_host_platform_device_count={devices}"
    return dict(os.environ, XLA_FLAGS=flag)


def run_script(code: str, *args: str, devices: int = 1, timeout=600) -> str:
    """``python -c code args...`` from the repository root with ``devices``
    host devices (fixed when JAX starts, hence a fresh process); asserts it
    succeeded and returns its stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=host_devices_env(devices),
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def run_module(module: str, *args: str, clear_xla_flags: bool = False, timeout=300):
    """``python -m module args...`` from the repository root, with captured
    text output.

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
        cwd=ROOT,
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


def free_port() -> int:
    """A TCP port free on localhost now (for a coordinator)."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def launch_search(
    workdir, port: int, pid: int, *extra: str, devices: int = 1, **overrides
) -> subprocess.Popen:
    """Process ``pid`` of a two-process tiny search (``overrides`` of its
    config as in :func:`tests.tiny_search.tiny`) with ``devices`` host
    devices, started."""
    cmd = [
        sys.executable,
        "-m",
        "experiments.search",
        *tiny_flags(**overrides),
        f"--workdir={workdir}",
        f"--coordinator_address=localhost:{port}",
        "--num_processes=2",
        f"--process_id={pid}",
        *extra,
    ]
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=host_devices_env(devices),
        cwd=ROOT,
    )
