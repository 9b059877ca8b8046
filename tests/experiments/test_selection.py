"""Replays of child-training rules at equal compute (experiments.selection)
and their launcher (experiments.halving_fidelity)."""

import json

import numpy as np
import pytest

from cosearch.final import reference
from experiments import selection
from tests.launch import run_module


def _run(arch, seed, early, final, losses, failed=False):
    return {
        "arch_index": arch,
        "arch": f"a{arch}",
        "seed": seed,
        "early": early,
        "val_accuracy": final,
        "failed": failed,
        "loss_curve": losses,
    }


def test_measures_read_rungs_ends_and_loss_sums():
    runs = [
        _run(0, 0, [[2, 0.3]], 0.5, [2.0, 1.0, 1.0, 0.5]),
        _run(1, 0, [[2, 0.4]], 0.6, [1.0, 1.0, 1.0, 1.0], failed=True),
    ]
    values, full = selection.measures(runs, 3, [0])
    assert full == 4
    assert values["accuracy@2"][:, 0].tolist()[:2] == [0.3, 0.4]
    # A failed run ends at 0, as the search counts it.
    assert values["accuracy@4"][:2, 0].tolist() == [0.5, 0.0]
    assert values["loss_sum@2"][:2, 0].tolist() == [-3.0, -2.0]
    assert values["loss_sum@4"][:2, 0].tolist() == [-4.5, -4.0]
    assert np.isnan(values["accuracy@2"][2, 0])  # not measured


def test_a_budget_buys_what_each_rule_trains():
    assert selection.Rule("proxy", 100).trained(1000, 100) == (10, 10)
    # k = 1000 // (100 + 4 x 25) = 5 children at the proxy, 20 at the rung.
    assert selection.Rule("halving", 25, rate=4).trained(1000, 100) == (20, 5)
    assert selection.Rule("rung", 25).trained(1000, 100) == (40, 0)
    assert selection.Rule("halving", 50, rate=4).trained(250, 100) == (0, 0)
    # 10 proxy children: 8 architectures, the best 2 again with a second seed.
    assert selection.Rule("reseed", 100, rate=2).trained(1000, 100) == (8, 2)
    assert selection.Rule("reseed", 100, rate=2).trained(300, 100) == (0, 0)


def _values(rung, final):
    """One seed; ``rung`` at 2 steps and ``final`` at the proxy's 4."""
    rung, final = np.asarray(rung, float), np.asarray(final, float)
    return {
        "accuracy@2": rung[:, None],
        "accuracy@4": final[:, None],
        "loss_sum@2": -rung[:, None],
        "loss_sum@4": -final[:, None],
    }


def test_halving_promotes_by_the_rung_then_picks_by_the_proxy():
    values = _values(rung=[0.1, 0.9, 0.8, 0.2], final=[0.9, 0.5, 0.7, 0.95])
    cands = np.array([0, 1, 2, 3])
    halving = selection.Rule("halving", 2, "accuracy", 2)
    # Promoted: 1 and 2 (best at the rung); the proxy prefers 2.
    assert selection.pick(halving, cands, values, 0, 2, 4) == 2
    assert selection.pick(selection.Rule("proxy", 4), cands, values, 0, 4, 4) == 3
    assert selection.pick(selection.Rule("rung", 2), cands, values, 0, 0, 4) == 1
    # By the loss sum (here the opposite order of the rung accuracy).
    by_loss = selection.Rule("halving", 2, "loss_sum", 2)
    assert selection.pick(by_loss, cands, values, 0, 2, 4) == 3


def test_reseed_picks_the_best_two_seed_mean_among_the_best_by_one_seed():
    seed0 = [0.70, 0.76, 0.75, 0.74]
    seed1 = [0.90, 0.70, 0.74, 0.60]
    values = {"accuracy@4": np.array([seed0, seed1]).T}
    cands = np.array([0, 1, 2, 3])
    reseed = selection.Rule("reseed", 4, rate=2)
    # Seed 0 puts 1 and 2 first; their means are 0.73 and 0.745: 2 is picked
    # (0, the best by seed 1, is not among them).
    assert selection.pick(reseed, cands, values, 0, 2, 4) == 2
    # The fixed proxy on seed 0 picks 1; reseeding the best 3 adds 3 (0.67).
    assert selection.pick(selection.Rule("proxy", 4), cands, values, 0, 4, 4) == 1
    assert selection.pick(reseed, cands, values, 0, 3, 4) == 2
    # From seed 1 the second seed is seed 0: 0 and 2 first, means 0.80, 0.745.
    assert selection.pick(reseed, cands, values, 1, 2, 4) == 0
    ref = np.array([0.8, 0.81, 0.82, 0.83])
    got = selection.replay(
        reseed, 16, values, 4, ref, cands, 30, np.random.default_rng(0)
    )
    # 16 steps = 4 proxy children: 2 architectures, both reseeded.
    assert got["trained_first"] == 2 and got["proxy_children"] == 4


def test_replays_judge_the_pick_by_the_reference():
    ref = np.linspace(0.80, 0.89, 10)
    # A rung that ranks exactly as the reference, a proxy that ranks backwards.
    values = _values(rung=ref, final=-ref)
    pool = np.arange(10)
    rung = selection.Rule("rung", 2)
    got = selection.replay(rung, 40, values, 4, ref, pool, 50, np.random.default_rng(0))
    # 40 steps buy 20 rung trainings: the whole pool, always its best.
    assert got["capped"] and got["trained_first"] == 10
    assert got["accuracy_mean"] == pytest.approx(0.89) and got["top10_share"] == 1
    assert got["percentile_mean"] == pytest.approx(0.95)
    proxy = selection.Rule("proxy", 4)
    worst = selection.replay(
        proxy, 40, values, 4, ref, pool, 50, np.random.default_rng(0)
    )
    assert worst["accuracy_mean"] == pytest.approx(0.80) and worst["top10_share"] == 0
    small = selection.replay(
        proxy, 8, values, 4, ref, pool, 200, np.random.default_rng(1)
    )
    again = selection.replay(
        proxy, 8, values, 4, ref, pool, 200, np.random.default_rng(1)
    )
    assert small == again and small["trained_first"] == 2
    assert 0.80 < small["accuracy_mean"] < 0.85  # the worse of two
    assert (
        selection.replay(proxy, 3, values, 4, ref, pool, 5, np.random.default_rng(0))
        is None
    )


def _files(tmp_path, archs=6):
    names = [f"3,{16 + 8 * i},1" for i in range(archs)]
    accuracy = np.array([[0.80 + 0.01 * i, 0.80 + 0.01 * i] for i in range(archs)])
    ref = reference.ReferenceSet(tuple(names), accuracy, (0, 1), {}, {"train": {}})
    ref_path = tmp_path / "ref.json"
    ref_path.write_text(json.dumps(reference.to_json(ref)))
    runs = [
        {
            "arch_index": i,
            "arch": name,
            "seed": seed,
            "early": [[2, 0.5 + 0.01 * i]],
            "val_accuracy": 0.7 + 0.01 * ((i * 7) % archs),
            "failed": False,
            "loss_curve": [1.0 - 0.01 * i] * 4,
        }
        for i, name in enumerate(names)
        for seed in (0, 1)
    ]
    proxy_path = tmp_path / "proxy.json"
    proxy_path.write_text(
        json.dumps(
            {"proxies": [{"train": {"batch_size": 8, "steps": 4}, "runs": runs}]}
        )
    )
    return proxy_path, ref_path


def _launch(proxy, ref, out, *flags):
    return run_module(
        "experiments.halving_fidelity",
        f"--proxy={proxy}",
        f"--reference={ref}",
        f"--out={out}",
        *flags,
    )


def test_the_launcher_writes_both_tables(tmp_path):
    proxy, ref = _files(tmp_path)
    out = tmp_path / "out.json"
    proc = _launch(proxy, ref, out, "--budgets=1,2,4", "--rates=2", "--draws=20")
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(out.read_text())
    assert got["ranking"]["accuracy@2"]["tau_one_seed"] == pytest.approx(1.0)
    assert got["ranking"]["accuracy@2"]["images_per_architecture"] == 16
    rules = {(r["rule"], r["budget_children"]) for r in got["selection"]}
    assert ("proxy 4", 1) in rules and ("halving 2x2 (accuracy)", 2) in rules
    # Two proxy seeds: 4 children's compute buys 2 architectures, both
    # reseeded; 2 children's buy none.
    assert ("proxy 4, best 2 reseeded", 4) in rules
    assert ("proxy 4, best 2 reseeded", 2) not in rules
    # A budget of one proxy child buys no halving with rate 2 (4 + 2 x 2 > 4).
    assert ("halving 2x2 (accuracy)", 1) not in rules
    assert "6 architectures in the pool" in proc.stdout


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--rates=1", "--rates must be >= 2"),
        ("--budgets=0", "--budgets must be >= 1"),
        ("--proxy=/no/such.json", "--proxy: no such file"),
    ],
)
def test_bad_flags_end_in_one_line(tmp_path, flag, message):
    proxy, ref = _files(tmp_path)
    out = tmp_path / "out.json"
    proc = _launch(proxy, ref, out, flag)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not out.exists()


def test_a_proxy_fidelity_reference_serves_as_well(tmp_path):
    """An experiments.proxy_fidelity result's final-training reference (the
    form of experiments/results/final_reference_cpu.json) judges the same."""
    proxy, ref = _files(tmp_path)
    held = reference.read(str(ref))
    earlier = {
        "architectures": list(held.architectures),
        "reference": {
            "runs": [
                {
                    "arch_index": i,
                    "arch": a,
                    "seed": seed,
                    "val_accuracy": float(held.accuracy[i, j]),
                    "failed": False,
                }
                for i, a in enumerate(held.architectures)
                for j, seed in enumerate(held.seeds)
            ],
            "train": {},
            "seeds": list(held.seeds),
            "scored_on": "test",
        },
    }
    other = tmp_path / "proxy_reference.json"
    other.write_text(json.dumps(earlier))
    outs = []
    for path in (ref, other):
        out = tmp_path / f"out_{path.stem}.json"
        proc = _launch(proxy, path, out, "--budgets=2", "--draws=10")
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.append(json.loads(out.read_text()))
    assert outs[0]["ranking"] == outs[1]["ranking"]
    assert outs[0]["selection"] == outs[1]["selection"]


def test_restarted_rungs_are_their_own_runs(tmp_path):
    """Runs of b steps with their own schedule (proxy_fidelity
    --variants=steps=b) give restart_accuracy@b and restart_loss_sum@b; the
    launcher takes them from a second --proxy file and replays them."""
    runs = [_run(0, 0, [], 0.6, [1.0, 2.0]), _run(1, 0, [], 0.2, [1.0, 1.0], True)]
    got = selection.restart_measures(runs, 2, [0], 2)
    assert got["restart_accuracy@2"][:, 0].tolist() == [0.6, 0.0]
    assert got["restart_loss_sum@2"][:, 0].tolist() == [-3.0, -2.0]
    proxy, ref = _files(tmp_path)
    full = json.loads(proxy.read_text())["proxies"][0]
    short = {
        "train": {"batch_size": 8, "steps": 2},
        "runs": [
            {**r, "early": [], "loss_curve": r["loss_curve"][:2]} for r in full["runs"]
        ],
    }
    full["train"]["steps"] = 4
    proxy.write_text(json.dumps({"proxies": [full]}))
    rungs = tmp_path / "rungs.json"
    rungs.write_text(json.dumps({"proxies": [short]}))
    out = tmp_path / "out.json"
    proc = _launch(f"{proxy},{rungs}", ref, out, "--budgets=2", "--draws=10")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert "restart_accuracy@2" in result["ranking"]
    assert any(
        r["rule"] == "halving 2x2 (restart_accuracy)" for r in result["selection"]
    )
