"""The search and compare launchers: one-line errors, and compare end to end."""

import json
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


def test_compare_over_seeds_at_equal_children(tmp_path):
    cfg = tiny(
        **{
            "search.episodes": 0,
            "search.max_children": 2,
            "search.candidates_per_episode": 4,
            "search.children_per_episode": 2,
        }
    )
    cfg.search.hw_aware_reference = ""
    # Two strategies keep the test short; compare treats every one the same.
    names = ["coexplore", "hw_aware"]
    text = compare.compare(cfg, str(tmp_path), names, seeds=[0, 1], log=quiet)
    assert (tmp_path / "comparison.md").read_text() == text
    summary = json.loads((tmp_path / "comparison.json").read_text())
    for name in names:
        assert f"| {name} |" in text
        for seed in (0, 1):
            assert os.path.exists(tmp_path / f"seed{seed}" / name / "history.jsonl")
            run = summary["runs"][name][str(seed)]
            assert run["children_trained"] == 2  # the same budget for all
            assert run["wall_s"] > 0
        stats = summary["summary"][name]
        assert stats["seeds"] == 2 and stats["children_trained"]["mean"] == 2.0
        assert stats["best_accuracy"]["n"] == 2  # tiny children always fit
    # hw_aware reaches its own best accuracy by construction.
    assert summary["summary"]["hw_aware"]["reached_baseline"] == 2
    assert "coexplore - hw_aware" in text
    for plot in ("comparison.png", "best_so_far.png"):
        assert (tmp_path / plot).stat().st_size > 10_000


def test_compare_refuses_repeated_seeds():
    with pytest.raises(compare.common.UsageError, match="repeated"):
        compare.parse_seeds(["1", "1"])
