"""End-to-end tests of the search loop through ``cosearch.search.loop.run``."""

import json
import os
import threading

import jax.numpy as jnp
import numpy as np
import pytest

from cosearch.files.checkpoint import CheckpointError
from cosearch.files.jsonl import read_jsonl
from cosearch.hardware import arch_arrays, cost_model, design_arrays, platform_arrays
from cosearch.hardware.devices import resolve_platform
from cosearch.results import pareto
from cosearch.results.records import (
    architecture_from_record,
    design_from_record,
    without_timing,
)
from cosearch.search import loop as search
from cosearch.search import run_state, stepping
from cosearch.search.config_checks import SearchConfigError
from cosearch.search.settings import HwAwareSettings
from cosearch.search.setup import build, config_json
from cosearch.search.strategies import STRATEGIES
from cosearch.search.workdir import WorkdirBusyError, check_workdir
from tests.helpers import damage_checkpoint, quiet
from tests.tiny_search import tiny


def test_outputs_exist_and_agree(baseline_run):
    workdir, summary = baseline_run
    for name in run_state.OUTPUT_FILES:
        assert os.path.getsize(os.path.join(workdir, name)) > 0, name
    history = read_jsonl(os.path.join(workdir, "history.jsonl"))
    metrics = read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    assert len(metrics) == 3
    assert len(history) == 9
    statuses = {h["status"] for h in history}
    assert "pruned" in statuses and statuses & {"trained", "cached"}
    # Pruned pairs were never trained: no accuracy, reward -1, spec missed.
    for h in history:
        if h["status"] == "pruned":
            assert h["accuracy"] is None and h["reward"] == -1.0
            assert not h["meets_specs"] and h["pruned_reason"]
        else:
            assert h["meets_specs"] and h["throughput_fps"] >= 30000.0
    # A repeated architecture is never trained twice.
    trained = [h["architecture"] for h in history if h["status"] == "trained"]
    assert len(trained) == len(set(trained))
    per_episode = [m["trained"] for m in metrics]
    assert sum(per_episode) == len(trained)


def test_history_figures_rescore_identically(baseline_run):
    workdir, _ = baseline_run
    history = read_jsonl(os.path.join(workdir, "history.jsonl"))
    plat = resolve_platform("mixed4")
    archs = [architecture_from_record(h) for h in history]
    designs = [design_from_record(h) for h in history]
    fig = cost_model.evaluate(
        arch_arrays(archs, (8, 8, 1), xp=jnp),
        design_arrays(designs, 2, plat.size, xp=jnp),
        platform_arrays(plat),
    )
    np.testing.assert_allclose(
        fig.throughput, [h["throughput_fps"] for h in history], rtol=1e-6
    )
    np.testing.assert_allclose(
        fig.gops_per_w, [h["gops_per_w"] for h in history], rtol=1e-6
    )
    np.testing.assert_array_equal(fig.feasible, [h["feasible"] for h in history])


def test_front_and_best_designs(baseline_run):
    workdir, summary = baseline_run
    front = json.load(open(os.path.join(workdir, "pareto.json")))["front"]
    pts = np.array(
        [[p["accuracy"], p["throughput_fps"], p["gops_per_w"]] for p in front]
    )
    assert len(pts) and pareto.non_dominated(pts).all()
    best = json.load(open(os.path.join(workdir, "best_designs.json")))
    history = read_jsonl(os.path.join(workdir, "history.jsonl"))
    scored = [h for h in history if h["accuracy"] is not None and h["meets_specs"]]
    assert best["OptSW"]["accuracy"] == max(h["accuracy"] for h in scored)
    assert best["OptHW"]["throughput_fps"] >= best["OptSW"]["throughput_fps"]
    stage = best["OptSW"]["design"]["stages"][0]
    assert set(stage["tiling"]) == {"tm", "tn", "tr", "tc", "tk", "wp", "ip", "op"}
    assert "OptSW" in open(os.path.join(workdir, "report.md")).read()


def test_interrupt_and_resume_equals_uninterrupted(baseline_run, tmp_path):
    workdir, _ = baseline_run
    expected = [without_timing(h) for h in read_jsonl(f"{workdir}/history.jsonl")]
    resumed = str(tmp_path / "resumed")
    # A Ctrl-C during the second episode's child training.
    seen = []

    def interrupt(message):
        seen.append(message)
        if message.startswith("  child") and len(seen) > 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        search.run(tiny(), resumed, log=interrupt)
    partial = read_jsonl(f"{resumed}/history.jsonl")
    assert 0 < len(partial) < len(expected)
    # A crash that left half a line behind is cut back on resume.
    with open(f"{resumed}/history.jsonl", "a") as f:
        f.write('{"episode": 99, "half a')
    search.run(tiny(), resumed, log=quiet)
    got = [without_timing(h) for h in read_jsonl(f"{resumed}/history.jsonl")]
    assert got == expected
    m_expected = read_jsonl(f"{workdir}/metrics.jsonl")
    m_got = read_jsonl(f"{resumed}/metrics.jsonl")
    assert [m["reward_mean"] for m in m_got] == [m["reward_mean"] for m in m_expected]


def test_resume_with_another_config_is_refused(baseline_run, tmp_path):
    workdir = str(tmp_path / "w")
    search.run(tiny(**{"search.episodes": 1}), workdir, log=quiet)
    with pytest.raises(CheckpointError, match="another config.*--fresh"):
        search.run(tiny(**{"reward.alpha": 0.9}), workdir, log=quiet)
    # More episodes is a resumable change, and so is a field only another
    # strategy reads; --fresh starts over.
    search.run(
        tiny(**{"search.episodes": 2, "reward.hw_aware_w": -0.5}), workdir, log=quiet
    )
    assert len(read_jsonl(f"{workdir}/metrics.jsonl")) == 2
    search.run(tiny(**{"search.episodes": 1}), workdir, fresh=True, log=quiet)
    assert len(read_jsonl(f"{workdir}/metrics.jsonl")) == 1


def test_resume_fingerprint_follows_the_declared_strategy_fields():
    """A resumed run must share every config field with its checkpoint but
    the budget (RESUMABLE_FIELDS) and the fields declared as read by other
    strategies only (their config_fields in the strategy table), whatever
    their names."""
    flat = run_state._flat(config_json(tiny()))
    declared = {f for entry in STRATEGIES.values() for f in entry.config_fields}
    assert declared <= set(flat)  # every declared field is a config field
    for strategy in STRATEGIES:
        own = set(STRATEGIES[strategy].config_fields)
        others = {
            f
            for owner, entry in STRATEGIES.items()
            if owner != strategy
            for f in entry.config_fields
        } - own
        kept = run_state._relevant(flat, strategy)
        groups = {f for f in flat if f.startswith(run_state.RESUMABLE_GROUPS)}
        assert groups and all(f.startswith("final.") for f in groups)
        assert set(kept) == (
            set(flat) - set(run_state.RESUMABLE_FIELDS) - others - groups
        )
        assert own <= set(kept)
    # Fields two strategies read stay in both fingerprints.
    shared = set(STRATEGIES["coexplore"].config_fields) & set(
        STRATEGIES["random_screen"].config_fields
    )
    assert shared and shared <= set(run_state._relevant(flat, "coexplore"))
    assert shared <= set(run_state._relevant(flat, "random_screen"))


def test_hw_aware_settings_are_its_declared_fields():
    """Setup.hw_aware is built from exactly hw_aware's declared fields."""
    values = {
        "search.hw_aware_design": "design.json",
        "search.hw_aware_reference": "3,24,1;3,24,1",
        "reward.hw_aware_w": -0.5,
    }
    assert set(values) == set(STRATEGIES["hw_aware"].config_fields)
    setup = build(tiny(**values))
    assert setup.hw_aware == HwAwareSettings("design.json", "3,24,1;3,24,1", -0.5)
    assert build(tiny()).hw_aware == HwAwareSettings("", "", -0.07)


def test_corrupt_checkpoint_is_refused(baseline_run, tmp_path):
    workdir = str(tmp_path / "w")
    search.run(tiny(**{"search.episodes": 1}), workdir, log=quiet)
    damage_checkpoint(f"{workdir}/checkpoints")
    with pytest.raises(CheckpointError, match="corrupt or incompatible"):
        search.run(tiny(**{"search.episodes": 1}), workdir, log=quiet)


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"strategy": "greedy"}, "config.strategy"),
        ({"specs.min_fps": 1e12, "reward.eff_hi": 1e13}, "min_fps.*out of reach"),
        ({"specs.min_fps": 1e12}, "min_fps.*out of reach"),
        ({"specs.min_fps": 2e5, "reward.eff_hi": 1e5}, "reward eff_hi"),
        ({"specs.max_latency_ms": 1e-9}, "max_latency_ms.*out of reach"),
        ({"specs.min_fps": -1.0}, "specs.min_fps"),
        ({"platform.name": "nosuch"}, "unknown platform"),
        ({"data.name": "cifar10", "data.data_dir": "/no/such/dir"}, "data_dir"),
        ({"train.optimizer": "rmsprop"}, "config.train"),
        (
            {"strategy": "hw_aware", "search.hw_aware_reference": "3,36,1;3,48,2"},
            "must lie in the search space",
        ),
    ],
)
def test_bad_config_is_refused_before_training(overrides, match, tmp_path):
    with pytest.raises(SearchConfigError, match=match):
        search.run(tiny(**overrides), str(tmp_path / "w"), log=quiet)
    assert not os.path.exists(tmp_path / "w" / "history.jsonl")


def test_a_config_missing_a_field_is_refused():
    config = tiny()
    del config.reward["hw_aware_w"]
    with pytest.raises(SearchConfigError, match=r"config\.reward\.hw_aware_w: missing"):
        build(config)


def test_unwritable_workdir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SearchConfigError, match="workdir"):
        search.run(tiny(), str(blocker / "sub"), log=quiet)


def test_two_processes_checking_one_workdir_at_once_both_pass(tmp_path):
    # Two comparisons keeping runs in one archive check it at the same
    # moment: neither removes the other's probe.
    errors = []

    def check():
        try:
            for _ in range(300):
                check_workdir(str(tmp_path))
        except SearchConfigError as e:
            errors.append(e)

    threads = [threading.Thread(target=check) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and os.listdir(tmp_path) == []


@pytest.mark.parametrize("strategy", ["hw_aware", "sequential", "random"])
def test_other_strategies(strategy, tmp_path):
    cfg = tiny(**{"strategy": strategy, "search.episodes": 1})
    cfg.search.hw_aware_reference = ""
    summary = search.run(cfg, str(tmp_path), log=quiet)
    history = read_jsonl(tmp_path / "history.jsonl")
    assert len(history) == 3 and summary.counts["pairs"] == 3
    if strategy in ("hw_aware", "sequential"):
        # Every child is trained; hw_aware keeps one design for all.
        assert all(h["accuracy"] is not None for h in history)
    if strategy == "hw_aware":
        stages = {json.dumps(h["design"]["stages"][0]["tiling"]) for h in history}
        assert len(stages) == 1


def test_interrupt_between_checkpoints_resumes_exactly(tmp_path):
    """checkpoint_every=2: a Ctrl-C in the middle of episode 2 (after one of
    its children trained) saves after episode 1 with the cache as it was
    then; the resumed run runs episode 2 again, that child's training taken
    from the journal, and writes what an uninterrupted run does."""
    cfg = {"search.checkpoint_every": 2}
    straight = str(tmp_path / "straight")
    search.run(tiny(**cfg), straight, log=quiet)
    expected = [without_timing(h) for h in read_jsonl(f"{straight}/history.jsonl")]
    resumed = str(tmp_path / "resumed")
    episodes_done, children = [], []

    def interrupt(message):
        if message.startswith("episode ") and "/" in message.split(":")[0]:
            episodes_done.append(message)
        if message.startswith("  child"):
            children.append(message)
            if len(episodes_done) == 1 and len(children) >= 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        search.run(tiny(**cfg), resumed, log=interrupt)
    assert len(episodes_done) == 1  # stopped inside episode 2
    search.run(tiny(**cfg), resumed, log=quiet)
    got = [without_timing(h) for h in read_jsonl(f"{resumed}/history.jsonl")]
    assert got == expected
    statuses = [h["status"] for h in got]
    assert statuses.count("trained") == len(
        {h["architecture"] for h in got if h["status"] == "trained"}
    )


def test_children_budget_trains_exactly_n_and_stops(tmp_path):
    """No episode limit: the run ends when max_children are trained, never
    more, even with several children allowed per episode."""
    cfg = tiny(
        **{
            "search.episodes": 0,
            "search.max_children": 3,
            "search.candidates_per_episode": 6,
            "search.children_per_episode": 2,
        }
    )
    messages = []
    summary = search.run(cfg, str(tmp_path), log=messages.append)
    history = read_jsonl(tmp_path / "history.jsonl")
    metrics = read_jsonl(tmp_path / "metrics.jsonl")
    assert sum(h["status"] in ("trained", "failed") for h in history) == 3
    assert summary.counts["trained"] + summary.counts["failed"] == 3
    assert metrics[-1]["children_trained_total"] == 3
    assert all(m["trained"] + m["failed"] <= 2 for m in metrics)
    assert all(m["proposals"] == 6 for m in metrics)
    for key in (
        "pruned_share",
        "reward_mean",
        "entropy",
        "arch_entropy",
        "median_mmacs",
        "best_accuracy_at_spec",
        "elapsed_s",
    ):
        assert all(m[key] is not None for m in metrics), key
    assert "3 children trained" in messages[-1]
    # Every proposal that survived the fast level has a predicted accuracy
    # (coexplore) and a reward; untrained survivors have no accuracy.
    for h in history:
        if h["status"] == "survived":
            assert h["accuracy"] is None and h["reward"] is not None
            assert h["predicted_accuracy"] is not None
    report = (tmp_path / "report.md").read_text()
    assert "How the search moved" in report
    assert (tmp_path / "learning.png").stat().st_size > 10_000


def test_a_run_needs_a_budget(tmp_path):
    cfg = tiny(**{"search.episodes": 0, "search.max_children": 0})
    with pytest.raises(SearchConfigError, match="no budget"):
        search.run(cfg, str(tmp_path), log=quiet)


def test_idle_episodes_end_the_run(tmp_path):
    """When episodes stop training new children (here the space holds one
    architecture), the run stops by itself instead of looping forever."""
    cfg = tiny(
        **{
            "search.episodes": 0,
            "search.max_children": 1000,
            "search.max_idle_episodes": 2,
            "space.depth": 1,
            "space.kernels": (1,),
            "space.filters": (24,),
            "specs.min_fps": 0.0,
        }
    )
    messages = []
    search.run(cfg, str(tmp_path), log=messages.append)
    metrics = read_jsonl(tmp_path / "metrics.jsonl")
    assert [m["children_trained_total"] for m in metrics] == [1, 1, 1]
    assert "no new child in the last 2 episodes" in messages[-1]


def _numeric_fields(node, prefix=""):
    for key in node.keys():
        value = node[key]
        if hasattr(value, "keys"):
            yield from _numeric_fields(value, f"{prefix}{key}.")
        elif isinstance(value, float) and not isinstance(value, bool):
            yield f"{prefix}{key}"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_every_float_field_refuses_nan_and_inf(bad, tmp_path):
    """Every float field of the config (found by walking it, not listed by
    hand) refuses NaN and infinities before anything is written."""
    fields = list(_numeric_fields(tiny()))
    assert "specs.min_fps" in fields and "train.learning_rate" in fields
    for field in fields:
        with pytest.raises(SearchConfigError, match=field.replace(".", r"\.")):
            search.run(tiny(**{field: bad}), str(tmp_path / "w"), log=quiet)
    assert not os.path.exists(tmp_path / "w" / "history.jsonl")


def test_a_second_search_on_a_busy_workdir_is_refused(tmp_path):
    """Two real processes: while one holds the workdir, a search there ends
    in one clear error and writes nothing; once it is gone, the run goes."""
    import subprocess
    import sys

    workdir = tmp_path / "w"
    workdir.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from cosearch.search.workdir import WorkdirLock\n"
            f"with WorkdirLock({str(workdir)!r}):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(
            WorkdirBusyError, match=f"in use by another search.*{holder.pid}"
        ):
            search.run(tiny(**{"search.episodes": 1}), str(workdir), log=quiet)
        assert sorted(os.listdir(workdir)) == [".lock"]
    finally:
        holder.kill()
        holder.wait()
    # The operating system released the killed holder's lock.
    search.run(tiny(**{"search.episodes": 1}), str(workdir), log=quiet)
    assert len(read_jsonl(workdir / "metrics.jsonl")) == 1


def test_an_infeasible_hw_aware_design_is_refused(tmp_path):
    """A fixed design whose accelerator does not fit its FPGA (64 x 64 = 4096
    DSP on an XC7Z020 of 220) ends in one line before anything is trained;
    the same file with a fitting tiling runs."""
    tiling = {"tm": 64, "tn": 64, "tr": 8, "tc": 8, "tk": 7, "wp": 4, "ip": 4, "op": 4}
    design = {"stages": [{"layers": [0, 1], "slot": 0, "tiling": tiling}]}
    path = tmp_path / "design.json"
    path.write_text(json.dumps(design))
    cfg = tiny(**{"strategy": "hw_aware", "search.episodes": 1})
    cfg.search.hw_aware_design = str(path)
    message = r"not feasible on mixed4: stage 0 on XC7Z020: 4096 DSP > 220"
    with pytest.raises(SearchConfigError, match=message):
        search.run(cfg, str(tmp_path / "w"), log=quiet)
    assert not os.path.exists(tmp_path / "w")
    tiling.update(tm=8, tn=8)
    path.write_text(json.dumps(design))
    search.run(cfg, str(tmp_path / "w"), log=quiet)
    assert len(read_jsonl(tmp_path / "w" / "history.jsonl")) == 3


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(
    baseline_run, tmp_path
):
    """The newest checkpoint damaged, the one before intact: the run resumes
    from that one, says so, runs the lost episode again and ends with the
    history of an uninterrupted run."""
    workdir, _ = baseline_run
    expected = [without_timing(h) for h in read_jsonl(f"{workdir}/history.jsonl")]
    run_dir = str(tmp_path / "w")
    search.run(tiny(), run_dir, log=quiet)
    assert sorted(os.listdir(f"{run_dir}/checkpoints")) == ["2", "3"]
    damage_checkpoint(f"{run_dir}/checkpoints/3")
    messages = []
    search.run(tiny(), run_dir, log=messages.append)
    assert any(
        m.startswith("checkpoint 3 passed over") and "from checkpoint 2" in m
        for m in messages
    ), messages
    got = [without_timing(h) for h in read_jsonl(f"{run_dir}/history.jsonl")]
    assert got == expected


def test_a_log_cut_by_hand_falls_back_to_an_older_checkpoint(baseline_run, tmp_path):
    workdir, _ = baseline_run
    expected = [without_timing(h) for h in read_jsonl(f"{workdir}/history.jsonl")]
    run_dir = str(tmp_path / "w")
    search.run(tiny(), run_dir, log=quiet)
    path = f"{run_dir}/history.jsonl"
    lines = open(path).readlines()
    with open(path, "w") as f:
        f.writelines(lines[:-1])  # the last record deleted by hand
    messages = []
    search.run(tiny(), run_dir, log=messages.append)
    assert any("cut shorter than checkpoint 3" in m for m in messages), messages
    got = [without_timing(h) for h in read_jsonl(path)]
    assert got == expected


def test_a_compute_budget_is_exact(tmp_path):
    """search.max_train_images buys whole children: the tiny child costs 4
    steps x 32 images = 128, so 300 images buy 2; the metrics count them."""
    config = tiny(
        **{
            "search.episodes": 0,
            "search.max_train_images": 300,
            "search.children_per_episode": 3,
        }
    )
    lines = []
    search.run(config, str(tmp_path), log=lines.append)
    metrics = read_jsonl(f"{tmp_path}/metrics.jsonl")
    assert metrics[-1]["children_trained_total"] == 2
    assert metrics[-1]["train_images_total"] == 256
    assert sum(m["train_images"] for m in metrics) == 256
    assert any("256 of 300 training images spent" in line for line in lines)


class _Clock:
    """A perf_counter that moves ``step`` seconds at every reading."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def perf_counter(self) -> float:
        self.now += self.step
        return self.now


def test_a_wall_time_budget_ends_the_run_and_counts_across_sessions(
    tmp_path, monkeypatch
):
    """With a clock that moves 10 s at every reading, max_wall_s = 100 ends
    the run after a few episodes (no other budget would): every episode
    starts with time left, the last ends past the budget; a resumed run
    has nothing left and runs no episode."""
    clock = _Clock(10.0)
    # One clock for the loop and the episode step it drives.
    monkeypatch.setattr(search, "time", clock)
    monkeypatch.setattr(stepping, "time", clock)
    cfg = tiny(
        **{
            "search.episodes": 0,
            "search.max_children": 0,
            "search.max_wall_s": 100.0,
            "search.max_idle_episodes": 1000,
        }
    )
    messages = []
    search.run(cfg, str(tmp_path), log=messages.append)
    metrics = read_jsonl(tmp_path / "metrics.jsonl")
    assert 2 <= len(metrics) < 10
    # Each episode starts with budget left; the last one spends it.
    assert metrics[-2]["elapsed_s"] < 100.0 <= metrics[-1]["elapsed_s"]
    assert any("wall-time budget of 100s spent" in m for m in messages), messages
    again = []
    search.run(cfg, str(tmp_path), log=again.append)
    assert len(read_jsonl(tmp_path / "metrics.jsonl")) == len(metrics)
    assert any("wall-time budget of 100s spent" in m for m in again), again
