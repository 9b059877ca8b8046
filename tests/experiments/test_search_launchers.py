"""The search and compare launchers: one-line errors, and compare end to end."""

import json
import os
import signal
import subprocess
import sys

import pytest

from cosearch.search import strategy_runs
from experiments import compare
from tests.helpers import history, quiet
from tests.launch import ROOT, run_module
from tests.tiny_search import TINY, tiny, tiny_flags

SMOKE = "--config=experiments/configs/default.py:smoke"


def launch(*args):
    return run_module("experiments.search", *args, timeout=120)


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
        # Out-of-range training settings: refused, not "trained" to 0%.
        (
            (SMOKE, "--workdir=/tmp/x", "--config.train.learning_rate=-1"),
            "config.train: learning_rate must be in (0, 10]",
        ),
        (
            (SMOKE, "--workdir=/tmp/x", "--config.train.momentum=5"),
            "config.train: momentum must be in [0, 1)",
        ),
        ((SMOKE, "--workdir=/tmp/x", "--config.final.seeds=1"), "seeds must be >= 2"),
        (
            (SMOKE, "--workdir=/tmp/x", "--coordinator_address=x", "--num_processes=2"),
            "coordinator address 'x': expected host:port",
        ),
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
    # hw_aware given more budget than the others (compare --overrides).
    text = "hw_aware:search.max_children=3"
    overrides = compare.parse_overrides(text, cfg, names)
    assert overrides == {"hw_aware": {"search.max_children": 3}}
    text = strategy_runs.run_strategies(
        cfg,
        str(tmp_path),
        names,
        seeds=[0, 1],
        log=quiet,
        adjust=compare._adjuster(overrides),
        notes={"overrides": text},
    )
    assert (tmp_path / "comparison.md").read_text() == text
    assert "hw_aware:search.max_children=3" in text
    summary = json.loads((tmp_path / "comparison.json").read_text())
    budget = {"coexplore": 2, "hw_aware": 3}
    for name in names:
        assert f"| {name} |" in text
        for seed in (0, 1):
            assert os.path.exists(tmp_path / f"seed{seed}" / name / "history.jsonl")
            run = summary["runs"][name][str(seed)]
            assert run["children_trained"] == budget[name]
            assert run["wall_s"] > 0
        stats = summary["summary"][name]
        assert stats["seeds"] == 2
        assert stats["children_trained"]["mean"] == budget[name]
        assert stats["best_accuracy"]["n"] == 2  # tiny children always fit
    # hw_aware reaches its own best accuracy by construction.
    assert summary["summary"]["hw_aware"]["reached_baseline"] == 2
    assert "coexplore - hw_aware" in text
    for plot in ("comparison.png", "best_so_far.png"):
        assert (tmp_path / plot).stat().st_size > 10_000


@pytest.mark.parametrize(
    "text, said",
    [
        ("greedy:search.max_children=1", "must start with one of the compared"),
        ("hw_aware:search.nope=1", "is not 'field=value' of a config field"),
        ("hw_aware:search.max_children", "is not 'field=value'"),
    ],
)
def test_bad_overrides_are_refused(text, said):
    with pytest.raises(compare.common.UsageError, match=said):
        compare.parse_overrides(text, tiny(), ["coexplore", "hw_aware"])


def test_compare_refuses_repeated_seeds():
    with pytest.raises(compare.common.UsageError, match="repeated"):
        compare.parse_seeds(["1", "1"])


def _launch_with(error: str):
    """``experiments.search`` on the smoke config, its ``search.run`` made to
    raise ``error`` (Python source of an exception)."""
    code = (
        "import sys\n"
        "from cosearch.search import loop as search\n"
        "from cosearch.search.config_checks import SearchConfigError\n"
        "from experiments import common, search as launcher\n"
        "def fail(*args, **kwargs):\n"
        f"    raise {error}\n"
        "search.run = fail\n"
        f"sys.argv = ['search', {SMOKE!r}, '--workdir=/tmp/x']\n"
        "common.run(launcher.main)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "error",
    ['ValueError("boom")', 'KeyError("boom")', 'FileNotFoundError("boom")'],
)
def test_an_internal_error_keeps_its_traceback(error):
    """A bug is not a user error, whatever its type: the launcher shows its
    traceback instead of a one-line message."""
    out = _launch_with(error)
    assert out.returncode not in (0, 2), out.stderr
    assert "Traceback (most recent call last)" in out.stderr
    assert f"{error.split('(')[0]}: " in out.stderr and "boom" in out.stderr
    assert "error: boom" not in out.stderr


def test_a_user_error_stays_one_line():
    out = _launch_with('SearchConfigError("config.search.episodes: bad")')
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["error: config.search.episodes: bad"]


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--config.search.rung_steps=(0,)", "rung_steps: must be increasing and >= 1"),
        ("--config.search.rung_steps=(-5,)", "rung_steps: must be increasing and >= 1"),
        ("--config.search.halving_rate=1", "halving_rate: must be >= 2, got 1"),
        ("--config.search.accuracy_signal=nope", "unknown training-free score(s)"),
    ],
)
def test_bad_search_settings_end_in_one_line_and_write_nothing(tmp_path, flag, message):
    workdir = tmp_path / "run"
    out = launch(SMOKE, f"--workdir={workdir}", flag)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert message in lines[0]
    assert not workdir.exists()


# Runs the launcher (argv[1:]) with SIGINT as a terminal gives it: Python's
# default handling, not blocked, whatever the test worker that starts it has
# set (both survive the exec; a pre-exec hook would fork a threaded process).
_AS_FROM_A_TERMINAL = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
)


def test_ctrl_c_to_the_launcher_saves_and_the_same_command_resumes(
    baseline_run, tmp_path
):
    """SIGINT to a real search process after its first episode: exit 130 with
    the resume hint, a checkpoint on disk; the tiny search's command then
    finishes the run with the history of an uninterrupted one."""
    workdir = tmp_path / "run"

    def command(**overrides):
        flags = tiny_flags(**overrides)
        return [
            sys.executable,
            "-m",
            "experiments.search",
            *flags,
            f"--workdir={workdir}",
        ]

    # Interrupted under a budget of 50 episodes, so that the signal lands in
    # the loop however late this process reads the line (on a loaded machine
    # a 3-episode run can end first); the episode budget may change on resume.
    long_run = command(**{"search.episodes": 50})
    proc = subprocess.Popen(
        [sys.executable, "-c", _AS_FROM_A_TERMINAL, *long_run[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("episode 1/"):  # the first episode's progress line
                proc.send_signal(signal.SIGINT)
                break
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert seen and seen[-1].startswith("episode 1/"), "".join(seen)[-2000:]
    assert proc.returncode == 130, (
        f"worker's SIGINT handler {signal.getsignal(signal.SIGINT)!r}, mask "
        f"{signal.pthread_sigmask(signal.SIG_BLOCK, [])}\n"
        + "".join(seen)[-1000:]
        + out[-1000:]
        + err[-2000:]
    )
    assert "interrupted; run the same command to resume" in err
    assert "interrupted: saved after episode" in out
    assert os.listdir(workdir / "checkpoints")
    done = subprocess.run(
        command(), capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming" in done.stdout
    # Its first 3 episodes (all of them, unless the signal came late) are the
    # uninterrupted run's (episodes count from 0 in the history).
    ran = [r for r in history(workdir) if r["episode"] < TINY["search.episodes"]]
    assert ran == history(baseline_run[0])
