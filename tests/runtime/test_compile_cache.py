"""The persistent compilation cache: a repeated search compiles nothing an
earlier process compiled; the cache can be turned off; a folder that cannot
be written is reported, not fatal."""

import os
import re
import subprocess
import sys

from tests.launch import ROOT
from tests.tiny_search import tiny_flags

_COUNTS = re.compile(r"programs: (\d+) compiled, (\d+) loaded from the compile (.*)")


def _env(cache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env.pop("XLA_FLAGS", None)
    env["COSEARCH_COMPILE_CACHE"] = cache
    return env


def _search(workdir, cache: str, *extra: str) -> tuple[int, int, str]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.search",
            *tiny_flags(),
            f"--workdir={workdir}",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(cache),
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    match = _COUNTS.search(proc.stdout)
    assert match, proc.stdout[-2000:]
    return int(match[1]), int(match[2]), match[3]


def test_a_repeated_search_compiles_nothing_again(tmp_path):
    cache = tmp_path / "cache"
    # One episode compiles every kind of program (children, controller, cost
    # model, optimizer); later ones add only new children's.
    one_episode = "--config.search.episodes=1"
    compiled, loaded, where = _search(tmp_path / "run", str(cache), one_episode)
    assert where == f"cache {cache}"
    # Children, controller, cost model and optimizer: dozens of programs.
    assert compiled > 10 and loaded == 0
    assert any(cache.iterdir())
    again = _search(tmp_path / "run", str(cache), one_episode, "--fresh")
    assert again[0] == 0, again  # nothing compiled a second time
    assert again[1] == compiled


def test_the_cache_can_be_turned_off(tmp_path):
    one_episode = "--config.search.episodes=1"
    compiled, loaded, where = _search(tmp_path / "run", "off", one_episode)
    assert compiled > 10 and loaded == 0 and where == "no cache"


def test_an_unwritable_folder_is_reported_and_skipped(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = (
        "from cosearch.runtime import enable_compile_cache, compile_counts\n"
        "import jax.numpy as jnp\n"
        f"print(repr(enable_compile_cache({str(blocker / 'cache')!r})))\n"
        "jnp.arange(3).sum().block_until_ready()\n"
        "print(compile_counts())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(""),
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("warning: compile cache") and "not writable" in lines[0]
    assert lines[1] == "''"
    assert "compiled=" in lines[2] and "cache_dir=''" in lines[2]


def test_an_empty_setting_means_the_default_folder(tmp_path):
    """COSEARCH_COMPILE_CACHE= (set but empty) is the default folder under
    XDG_CACHE_HOME, not the current directory: a launcher run from a folder
    writes no compiled program into it."""
    xdg, here = tmp_path / "xdg", tmp_path / "here"
    here.mkdir()
    env = {**_env(""), "XDG_CACHE_HOME": str(xdg), "PYTHONPATH": ROOT}
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.best_design", "--layers=3,16,1;3,16,1",
         "--input=8,8,1", "--platform=zcu102x2"],
        capture_output=True, text=True, timeout=300, env=env, cwd=here,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list(here.iterdir()) == []
    assert any((xdg / "cosearch" / "jax").glob("*-cache"))


BOUND_SCRIPT = r"""
import os, sys
from pathlib import Path
import jax, jax.numpy as jnp
from cosearch.runtime import compile_cache

folder = Path(sys.argv[1])
assert compile_cache.enable_compile_cache(folder) == str(folder)
assert jax.config.jax_compilation_cache_max_size == compile_cache.MAX_CACHE_BYTES
compile_cache.MAX_CACHE_BYTES = int(sys.argv[2])  # a small bound, to see it work
compile_cache.enable_compile_cache(folder)
sizes = []
for n in range(1, 41):  # 40 distinct programs
    jax.jit(lambda x: jnp.tanh(x @ x.T) * n)(jnp.ones((n, 8))).block_until_ready()
    programs = list(folder.glob("*-cache"))  # beside each, an 8-byte "-atime"
    sizes.append(sum(p.stat().st_size for p in programs))
print(max(sizes), sizes[-1], len(programs))
"""


def test_the_cache_folder_stays_within_its_bound(tmp_path):
    """MAX_CACHE_BYTES is the bound JAX is given, and JAX evicts to it: 40
    programs into a 60 kB bound never hold more than 60 kB of programs."""
    bound = 60_000
    proc = subprocess.run(
        [sys.executable, "-c", BOUND_SCRIPT, str(tmp_path / "cache"), str(bound)],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(""),
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    largest, last, files = (int(v) for v in proc.stdout.split())
    assert 0 < last <= largest <= bound
    assert files >= 2  # several programs kept, the oldest evicted
