"""The best-design launcher: JSON and tables, and one-line errors."""

import json

import pytest

from cosearch.hardware.architecture import Architecture
from cosearch.hardware.devices import Library
from cosearch.hardware.layer_model import Tiling, layer_cost
from cosearch.hardware.resources import accelerator_resources
from experiments.best_design import format_tables
from tests.launch import run_module

SIX = "3,36,1;5,36,1;1,64,1;3,48,2;7,24,1;1,64,1"
GRID = {
    "tm": [4, 16],
    "tn": [2, 8],
    "tr": [8, 16],
    "tc": [16, 32],
    "wp": [2, 4],
    "ip": [2],
    "op": [2, 4],
}


def _run(*args):
    return run_module("experiments.best_design", *args, timeout=300)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    grid = tmp_path_factory.mktemp("grid") / "grid.json"
    grid.write_text(json.dumps(GRID))
    proc = _run(f"--layers={SIX}", "--platform=pynq3", f"--grid={grid}", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_json_has_the_figures_and_stages(result):
    for key in ("throughput_fps", "latency_ms", "gops_per_w", "meets_specs", "stages"):
        assert key in result
    assert result["meets_specs"] is True and result["feasible"] is True
    stages = result["stages"]
    assert stages[0]["layers"][0] == 0 and stages[-1]["layers"][1] == 5
    for a, b in zip(stages, stages[1:], strict=False):
        assert b["layers"][0] == a["layers"][1] + 1
    assert len({s["slot"] for s in stages}) == len(stages)
    # Recompute each stage with the scalar API: cycles, DSP, BRAM.
    layers = Architecture.parse(SIX).conv_layers((32, 32, 3))
    dev = Library().device("XC7Z020")
    worst = 0.0
    for i, st in enumerate(stages):
        t = st["tiling"]
        assert set(t) == {"tm", "tn", "tr", "tc", "tk", "wp", "ip", "op"}
        assert t["tm"] in GRID["tm"] and t["wp"] in GRID["wp"]
        tiling = Tiling(**t)
        first, last = st["layers"]
        assert t["tk"] == max(lay.k for lay in layers[first : last + 1])
        cyc = sum(layer_cost(lay, tiling).cycles for lay in layers[first : last + 1])
        out = layers[last]
        link = 16 * out.m * out.out_rows * out.out_cols / dev.link_bps
        secs = cyc / dev.clock_hz + (link if i < len(stages) - 1 else 0.0)
        assert st["seconds"] == pytest.approx(secs, rel=1e-5)
        res = accelerator_resources(tiling)
        assert (st["dsp"], st["bram18"]) == (res.dsp, res.bram18)
        assert st["device"] == "XC7Z020"
        worst = max(worst, secs)
    assert result["throughput_fps"] == pytest.approx(1 / worst, rel=1e-5)


def test_tables_show_each_stage(result):
    text = format_tables(result)
    assert "Tm Tn Tr Tc Tk Wp Ip Op" in text and "specs: met" in text
    assert len([ln for ln in text.splitlines() if "XC7Z020 " in ln]) == len(
        result["stages"]
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--min_fps=-1"], "error: spec min_fps must be a non-negative number"),
        (["--platform=EMPTY"], "is empty"),
        (["--grid=GRID"], "no feasible accelerator"),
    ],
)
def test_impossible_requests_end_in_one_line(tmp_path, args, message):
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    grid = tmp_path / "g.json"
    grid.write_text(json.dumps({k: [512] for k in GRID}))
    args = [a.replace("EMPTY", str(empty)).replace("GRID", str(grid)) for a in args]
    proc = _run(f"--layers={SIX}", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (("--layers=3,128,1", "--input=2147483648,224,64"), "input height"),
        (("--layers=3,4294967296,1", "--input=224,224,64"), "layer 0 filters"),
        (("--layers=3,128,1", "--grid={grid}"), "exceeds the largest accepted tile"),
        (("--layers=3,128,1", "--platform={hw}"), "plausible range"),
        (("--layers=3,128,1", "--platform={dir}"), "is a directory"),
    ],
)
def test_out_of_range_values_end_in_one_line(args, message, tmp_path):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({**GRID, "tm": [4, 2147483648]}))
    hw = tmp_path / "hw.json"
    hw.write_text(
        json.dumps(
            {
                "devices": [{"name": "BIG", "base": "XC7Z020", "dsp": 1e10}],
                "platforms": {"big": ["BIG"]},
            }
        )
    )
    subs = {"grid": grid, "hw": hw, "dir": f"{tmp_path}/"}
    proc = _run(*(a.format(**subs) for a in args))
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert message in lines[0]


def test_a_layer_past_2_to_the_31_macs_is_scored_right():
    """3.7e9 MACs (224 x 224, 64 -> 128 channels): no spec means no spec
    missed, and the energy objective finds the efficient design."""
    common = ("--layers=3,128,1", "--input=224,224,64", "--platform=zcu102x2")
    fast = json.loads(_run(*common, "--json").stdout.strip().splitlines()[-1])
    green = _run(*common, "--objective=energy", "--json")
    green = json.loads(green.stdout.strip().splitlines()[-1])
    assert fast["meets_specs"] and green["meets_specs"]
    assert green["gops_per_w"] >= fast["gops_per_w"] * (1 - 1e-6) > 100
