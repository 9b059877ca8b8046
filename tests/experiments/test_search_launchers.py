"""The search and compare launchers: one-line errors, and compare end to end."""

import os
import subprocess
import sys

import pytest

from experiments import compare
from tests.test_search import quiet
from tests.tiny_search import tiny

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMOKE = "--config=experiments/configs/default.py:smoke"


def launch(*args):
    return subprocess.run(
        [sys.executable, "-m", "experiments.search", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        ((SMOKE, "--workdir=/tmp/x", "--config.search.nope=1"), "unknown config field"),
        (
            (SMOKE, "--workdir=/tmp/x", "--config.search.episodes=abc"),
            "invalid literal",
        ),
        (("--config=no/such.py", "--workdir=/tmp/x"), "no such config file"),
        ((SMOKE, "--workdir=/tmp/x", "--config.strategy=greedy"), "config.strategy"),
        ((SMOKE,), "--workdir is required"),
    ],
)
def test_bad_flags_end_in_one_line(args, message):
    out = launch(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert message in lines[0]


def test_compare_writes_table_and_plot(tmp_path):
    cfg = tiny(**{"search.episodes": 1, "search.children_per_episode": 2})
    cfg.search.hw_aware_reference = ""
    # Two strategies keep the test short; compare treats every one the same.
    names = ["coexplore", "hw_aware"]
    text = compare.compare(cfg, str(tmp_path), names, log=quiet)
    for name in names:
        assert f"| {name} |" in text
        assert os.path.exists(tmp_path / name / "history.jsonl")
    assert (tmp_path / "comparison.md").read_text() == text
    assert (tmp_path / "comparison.png").stat().st_size > 10_000
