"""In CI a skipped check fails the run (tests/ci_skips.py); elsewhere a skip
stays a skip, and the PyTorch peer's skips stay skips everywhere."""

import os
import subprocess
import sys

import pytest

from tests.launch import ROOT

CONFTEST = """
import pytest
from tests.ci_skips import ci_verdict

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    ci_verdict(outcome.get_result())
"""

TESTS = """
import pytest

@pytest.mark.skipif(True, reason="C-simulation needs g++ and make")
def test_needs_a_compiler():
    pass

def test_needs_the_peer():
    pytest.skip("could not import 'torch': No module named 'torch'")
"""


def _pytest(tmp_path, ci: bool):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_probe.py").write_text(TESTS)
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("COSEARCH_CI", None)
    if ci:
        env["COSEARCH_CI"] = "1"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-n0",
            "-rs",
            "-q",
            "-c",
            os.devnull,
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


@pytest.mark.parametrize("ci", [False, True])
def test_a_skip_fails_only_in_ci(tmp_path, ci):
    out = _pytest(tmp_path, ci)
    if ci:
        assert out.returncode == 1, out.stdout
        assert "skipped in CI (C-simulation needs g++ and make)" in out.stdout
        assert "1 skipped, 1 error" in out.stdout  # the peer's skip stays
    else:
        assert out.returncode == 0, out.stdout
        assert "2 skipped" in out.stdout
