"""The evaluator launcher: its real entry point, and its one-line errors."""

import json

import pytest

from cosearch.hardware.architecture import Architecture
from cosearch.hardware.design import Design, Stage
from cosearch.hardware.devices import resolve_platform
from cosearch.hardware.layer_model import Tiling
from experiments import common
from experiments.evaluate import (
    default_tiling,
    format_table,
    parse_devices,
    parse_stages,
    parse_tilings,
    report,
)
from tests.launch import run_module

LAYERS = "3,36,1;5,36,1;1,64,1;3,48,2;7,24,1;1,64,1"


def _run(*args):
    return run_module("experiments.evaluate", *args, timeout=300)


def test_json_figures_of_a_given_design():
    proc = _run(
        f"--layers={LAYERS}",
        "--platform=mixed4",
        "--stages=0-2,3-5",
        "--devices=XC7Z045,XCZU9EG",
        "--tilings=32,8,16,16,5,4,4,4;64,16,16,16,8,8,8",  # tk omitted -> 7
        "--json",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rep = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [st["device"] for st in rep["stages"]] == ["XC7Z045", "XCZU9EG"]
    assert [st["slot"] for st in rep["stages"]] == [2, 3]
    assert rep["stages"][1]["tiling"]["tk"] == 7
    # 32*8 = 256 DSP of 900; 64*16 = 1024 of 2520.
    assert rep["stages"][0]["dsp"] == [256, 900]
    assert rep["stages"][1]["dsp"] == [1024, 2520]
    assert [lay["stage"] for lay in rep["per_layer"]] == [0, 0, 0, 1, 1, 1]
    slowest = max(st["seconds"] for st in rep["stages"])
    assert rep["throughput_img_s"] == pytest.approx(1 / slowest, rel=1e-6)
    assert rep["feasible"] is True


def test_table_with_default_design():
    # In-process (no subprocess): the default design and the table printer.
    arch = Architecture.parse(LAYERS)
    platform = resolve_platform("zcu102x2")
    stages = parse_stages(None, arch.depth, platform.size)
    slots = parse_devices(None, platform, len(stages))
    tilings = parse_tilings(None, arch, stages, platform, slots, 16, (32, 32, 3))
    rows = zip(stages, slots, tilings, strict=True)
    design = Design(tuple(Stage(a, b, s, t) for (a, b), s, t in rows))
    rep = report(arch, (32, 32, 3), platform, design, 16, True)
    assert rep["feasible"] and [st["layers"] for st in rep["stages"]] == [
        [0, 2],
        [3, 5],
    ]
    out = format_table(rep)
    for word in ("XCZU9EG", "bottleneck", "img/s", "GOPS/W", "ms", "pipeline"):
        assert word in out, word


def test_bad_flag_is_one_line_error():
    proc = _run(f"--layers={LAYERS}", "--stages=0-2,3-5", "--devices=XC9000,0")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: --devices: no unused 'XC9000'")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("--platform=zcu102x2", "--tilings=8192,1,1,1,1,1,1;1,1,1,1,1,1,1"),
            "error: --tilings: stage 0: Tiling.tm = 8192 exceeds the largest",
        ),
        (("--stages=0-2,4-5",), "error: --stages/--devices: stage 1 covers"),
        (("--input=2147483648,32,3",), "error: --input: input height"),
    ],
)
def test_values_out_of_range_are_one_line_errors(args, message):
    proc = _run(f"--layers={LAYERS}", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), proc.stderr


def test_parsers_refuse_bad_values():
    platform = resolve_platform("mixed4")
    arch = Architecture.parse("3,36,1;1,64,1")
    with pytest.raises(common.UsageError, match="--stages"):
        parse_stages("0-x", 2, 4)
    assert parse_stages(None, 6, 4) == [(0, 1), (2, 2), (3, 3), (4, 5)]
    with pytest.raises(common.UsageError, match="slot 4 not in the pool"):
        parse_devices("0,4", platform, 2)
    with pytest.raises(common.UsageError, match="no unused 'xc7z045'"):
        parse_devices("XC7Z045,xc7z045", platform, 2)
    assert parse_devices("XC7Z020,xc7z020", platform, 2) == [0, 1]
    with pytest.raises(common.UsageError, match="2 stages"):
        parse_tilings(
            "1,1,1,1,1,1,1", arch, [(0, 0), (1, 1)], platform, [0, 1], 16, (32, 32, 3)
        )
    with pytest.raises(common.UsageError, match="positive"):
        parse_tilings("0,1,1,1,1,1,1", arch, [(0, 1)], platform, [0], 16, (32, 32, 3))
    with pytest.raises(common.UsageError, match="expected tm,tn"):
        parse_tilings("1,1,1", arch, [(0, 1)], platform, [0], 16, (32, 32, 3))


def test_default_tiling_fits_its_device():
    dev = resolve_platform("mixed4").devices[0]  # XC7Z020: 220 DSP, 280 BRAM18K
    t = default_tiling(dev, max_kernel=5, rows=32, bits=16)
    assert isinstance(t, Tiling) and t.tk == 5
    assert t.tm * t.tn <= 220 and t.tm * t.tn >= 64
