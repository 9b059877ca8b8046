"""Designs the exporter refuses in one line, writing nothing; the workdir
layer (designs by name, final weights)."""

import json
import os
import shutil

import numpy as np
import pytest

from cosearch.errors import UserError
from cosearch.final.store import FinalStore
from cosearch.hardware.architecture import Architecture
from cosearch.hls import csim
from cosearch.hls.design import HlsDesignError, parse_design
from cosearch.hls.export import export
from cosearch.hls.source import HlsSourceError, design_entry, final_weights
from experiments.configs import default
from tests.hls.helpers import entry, stage, tiny_variables
from tests.launch import run_module

ARCH = [(3, 4, 1), (5, 6, 1)]
SHAPE = (8, 8, 1)
GOOD = [stage(0, 0, 2, 1, 4, 4), stage(1, 1, 3, 2, 8, 8, tk=5, slot=1)]

BAD = {
    "unknown FPGA": (
        [stage(0, 0, 2, 1, 4, 4), stage(1, 1, 3, 2, 8, 8, tk=5, device="XC9000")],
        "unknown FPGA device 'XC9000'",
    ),
    "too many DSPs": (
        [stage(0, 0, 64, 8, 4, 4), GOOD[1]],
        "does not fit XC7Z020 at 16 bits: DSP 512 > 220",
    ),
    "too much BRAM": (
        [stage(0, 0, 8, 8, 256, 256), GOOD[1]],
        "BRAM18K",
    ),
    "kernel beyond Tk": (
        [GOOD[0], stage(1, 1, 3, 2, 8, 8, tk=3, slot=1)],
        "Tk 3 < kernel 5",
    ),
    "stages not covering": ([GOOD[0]], "stages cover layers 0..0"),
    "gap between stages": (
        [GOOD[0], stage(2, 2, 3, 2, 8, 8, tk=5, slot=1)],
        "expected it to start at layer 1",
    ),
    "tiling field missing": (
        [{**GOOD[0], "tiling": {"tm": 2}}, GOOD[1]],
        "'tiling' must have exactly the fields",
    ),
    "zero tile": (
        [stage(0, 0, 0, 1, 4, 4), GOOD[1]],
        "Tiling.tm must be a positive int",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_design_is_refused_and_nothing_written(case, tmp_path):
    stages, message = BAD[case]
    out = tmp_path / "out"
    variables = tiny_variables(ARCH, SHAPE, 3, "gap")
    images = np.zeros((2, *SHAPE), np.float32)
    with pytest.raises(HlsDesignError) as err:
        export(str(out), entry(ARCH, *stages), ARCH, variables, SHAPE, "gap", 3, images)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert not out.exists()
    assert os.listdir(tmp_path) == []


def test_design_for_another_architecture_is_refused():
    with pytest.raises(HlsDesignError, match="not 3,4,1"):
        parse_design(entry(ARCH, *GOOD), architecture=Architecture(((3, 4, 1),)))


def test_pool_slot_must_hold_the_device():
    with pytest.raises(HlsDesignError, match="slot 1 of the platform is XC7Z045"):
        parse_design(entry(ARCH, *GOOD), pool=("XC7Z020", "XC7Z045"))


def test_good_design_parses():
    design = parse_design(entry(ARCH, *GOOD), pool=("XC7Z020", "XC7Z020"))
    assert [st.part for st in design.stages] == ["xc7z020clg400-1"] * 2
    assert design.stage_of(1) == 1


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A search workdir with config.json (smoke config), best_designs.json,
    pareto.json and no final training."""
    root = tmp_path_factory.mktemp("run")
    config = default.get_config("smoke").to_dict()
    (root / "config.json").write_text(json.dumps(config))
    (root / "best_designs.json").write_text(
        json.dumps({"OptSW": entry(ARCH, *GOOD), "OptHW": None})
    )
    (root / "pareto.json").write_text(json.dumps({"front": [entry(ARCH, *GOOD)]}))
    return root


def test_designs_by_name_index_and_file(workdir, tmp_path):
    assert design_entry(str(workdir), "OptSW")[0]["layers"] == [[3, 4, 1], [5, 6, 1]]
    assert design_entry(str(workdir), "0")[1] == "pareto[0]"
    with pytest.raises(HlsSourceError, match="no OptHW"):
        design_entry(str(workdir), "OptHW")
    with pytest.raises(HlsSourceError, match="has 1 designs"):
        design_entry(str(workdir), "3")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(HlsSourceError, match="not valid JSON"):
        design_entry(str(workdir), str(bad))


def test_unfinalized_architecture_names_the_finalize_command(workdir):
    with pytest.raises(HlsSourceError, match="experiments.finalize --workdir="):
        final_weights(str(workdir), Architecture.parse("3,4,1;5,6,1"))


def test_final_weights_prefer_seed_0(tmp_path):
    arch = "3,4,1;5,6,1"
    store = FinalStore(tmp_path)
    for seed in (1, 0):
        variables = tiny_variables(ARCH, SHAPE, 3, "gap", seed=seed)
        rec = {"architecture": arch, "seed": seed, "settings_id": "s1"}
        store.save(rec, variables)
    got = final_weights(str(tmp_path), Architecture.parse(arch))
    assert got.record["seed"] == 0
    want = tiny_variables(ARCH, SHAPE, 3, "gap", seed=0)
    np.testing.assert_array_equal(
        got.variables["params"]["Conv_1"]["kernel"], want["params"]["Conv_1"]["kernel"]
    )


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        (json.dumps(entry(ARCH, GOOD[0], {**GOOD[1], "device": "XC1"})), "XC1"),
    ],
)
def test_launcher_refuses_a_bad_design_file_in_one_line(
    workdir, tmp_path, content, message
):
    design = tmp_path / "design.json"
    design.write_text(content)
    out = tmp_path / "out"
    proc = run_module(
        "experiments.export_hls",
        f"--workdir={workdir}",
        f"--design={design}",
        f"--out={out}",
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0]
    assert proc.stderr.strip().splitlines()[-1] == errors[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_errors_are_user_errors():
    assert issubclass(HlsDesignError, UserError)
    assert issubclass(HlsSourceError, UserError)


@pytest.mark.skipif(not csim.have_compiler(), reason="C-simulation needs g++ and make")
def test_launcher_exports_a_finalized_design_and_checks_it(workdir, tmp_path):
    """The workdir path end to end: OptSW, its final weights (seed 0), the
    project, a C-simulation on 3 test images and the report."""
    run = tmp_path / "run"
    shutil.copytree(workdir, run)
    variables = tiny_variables(ARCH, SHAPE, 4, "gap")
    rec = {"architecture": "3,4,1;5,6,1", "seed": 0, "settings_id": "s"}
    FinalStore(run).save(rec, variables)
    out = tmp_path / "out"
    proc = run_module(
        "experiments.export_hls",
        f"--workdir={run}",
        f"--out={out}",
        "--csim_images=3",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["fixed_bit_exact"] and report["counts_equal"]
    assert report["float_rel_error"] < 1e-4 and report["images"] == 3
    assert report["scored_images"] == 128
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["source"]["seed"] == 0 and manifest["source"]["design"] == "OptSW"
    assert (out / "csim_report.json").exists()
