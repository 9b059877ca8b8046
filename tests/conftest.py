"""Test-session setup.

A persistent JAX compilation cache for this session only (a fresh temporary
folder), so the child processes the tests start (launchers, several devices,
several processes) load the programs this process already compiled instead
of compiling them again. Values are unaffected: a cached program is the
same executable. In CI (``COSEARCH_CI=1``) a skipped test fails
(tests/ci_skips.py).
"""

import os
import shutil
import tempfile

import pytest

from tests.ci_skips import ci_verdict

_CACHE = tempfile.mkdtemp(prefix="cosearch-test-jax-cache-")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def pytest_sessionfinish(session, exitstatus):
    """This process's cache folder goes when its session ends, except in an
    xdist worker that uses it: workers inherit the controller's folder (their
    own is then unused), and one that finishes early must not take the cache
    from the others; the controller removes it last."""
    del exitstatus
    in_use = os.environ.get("JAX_COMPILATION_CACHE_DIR") == _CACHE
    if in_use and hasattr(session.config, "workerinput"):
        return
    shutil.rmtree(_CACHE, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skip in CI is a failure (tests/ci_skips.py)."""
    del item, call
    outcome = yield
    ci_verdict(outcome.get_result())


@pytest.fixture(scope="session")
def baseline_run(tmp_path_factory):
    """The tiny search (tests/tiny_search.py) run once in this process, on its
    default device: (workdir, summary). Several modules compare with it."""
    from cosearch.search import loop as search
    from tests.tiny_search import tiny

    workdir = str(tmp_path_factory.mktemp("uninterrupted"))
    summary = search.run(tiny(), workdir, log=lambda _: None)
    return workdir, summary
