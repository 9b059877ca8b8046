"""The proxy-fidelity launcher end to end on the smoke config."""

import json

import pytest

from tests.launch import run_module

SMOKE = "--config=experiments/configs/default.py:smoke"


def test_reference_then_proxy_against_it(tmp_path):
    ref = tmp_path / "ref.json"
    common = (SMOKE, "--num_archs=3", "--arch_seed=5")
    proc = run_module(
        "experiments.proxy_fidelity",
        *common,
        "--seeds=",
        "--reference_train=steps=6",
        "--reference_seeds=0,1",
        f"--out={ref}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    reference = json.loads(ref.read_text())
    assert len(reference["architectures"]) == 3 and reference["proxies"] == []
    assert len(reference["reference"]["runs"]) == 6
    # The reference is the config's final training, scored on the test split.
    assert reference["reference"]["scored_on"] == "test"
    assert reference["reference"]["train"]["steps"] == 6
    assert reference["reference"]["train"]["batch_size"] == 32  # config.final's
    assert "reference (final training, test split)" in proc.stdout
    out = tmp_path / "proxy.json"
    proc = run_module(
        "experiments.proxy_fidelity",
        *common,
        "--seeds=0,1",
        f"--reference={ref}",
        "--variants=learning_rate=0.05;head_lr_scale=0.1,warmup_steps=2",
        "--eval_steps=2,3,99",
        f"--out={out}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["reference"]["runs"] == reference["reference"]["runs"]
    assert [p["variant"] for p in result["proxies"]] == [
        "learning_rate=0.05",
        "head_lr_scale=0.1,warmup_steps=2",
    ]
    for proxy in result["proxies"]:
        s = proxy["summary"]
        assert s["runs"] == 6 and len(s["tau_seed_vs_reference"]) == 2
        assert s["median_child_s"] > 0
        # Part-way scores after 2 and 3 of the 5 steps (99 is past the
        # budget), and the loss sums; the full run's as the last entry.
        assert list(s["by_steps"]) == ["2", "3", "5"]
        assert (
            s["by_steps"]["5"]["accuracy"]["tau_mean_vs_reference"]
            == (s["tau_mean_vs_reference"])
        )
        for run in proxy["runs"]:
            assert [step for step, _ in run["early"]] == [2, 3]
            assert len(run["loss_curve"]) == 5
    assert "after 2 steps: tau vs reference accuracy" in proc.stdout
    assert result["proxies"][1]["train"]["head_lr_scale"] == 0.1
    # Another architecture draw cannot reuse that reference.
    proc = run_module(
        "experiments.proxy_fidelity",
        SMOKE,
        "--num_archs=3",
        "--arch_seed=6",
        f"--reference={ref}",
    )
    assert proc.returncode == 2 and "other architectures" in proc.stderr
    bad = run_module("experiments.proxy_fidelity", SMOKE, "--variants=lr=1")
    assert bad.returncode == 2 and "train override 'lr=1'" in bad.stderr
    bad = run_module("experiments.proxy_fidelity", SMOKE, "--variants=learning_rate=-1")
    assert bad.returncode == 2
    assert "--variants: learning_rate must be in (0, 10]" in bad.stderr


@pytest.mark.parametrize(
    "arg, message",
    [
        ("--seeds=0,a", "error: --seeds: expected integers"),
        ("--reference_seeds=x", "error: --reference_seeds: expected integers"),
        ("--reference=/no/such.json", "error: --reference: no such file"),
        ("--reference={dir}", "cannot read"),
        ("--reference={json}", "not a result of experiments.proxy_fidelity"),
    ],
)
def test_bad_flags_end_in_one_line(arg, message, tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"architectures": []}')
    proc = run_module(
        "experiments.proxy_fidelity", SMOKE, arg.format(dir=tmp_path, json=other)
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
