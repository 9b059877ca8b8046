"""Exported designs C-simulated with g++: float vs JAX, fixed vs the
emulation bit for bit, loop counts vs the cost model."""

import json
import os

import numpy as np
import pytest

from cosearch.hls import csim
from cosearch.hls.engine import stage_declarations
from cosearch.hls.export import export, read_manifest
from cosearch.hls.fixed import emulate
from cosearch.hls.network import reference
from cosearch.hls.verify import expected_counts, verify
from tests.hls.helpers import entry, stage, tiny_variables

pytestmark = pytest.mark.skipif(
    not csim.have_compiler(), reason="C-simulation needs g++ and make"
)

# name: (architecture, input shape, head, stages)
CASES = {
    # two stages, tiles dividing every layer
    "dividing": (
        [(3, 4, 1), (3, 6, 1)],
        (8, 8, 1),
        "gap",
        [stage(0, 0, 2, 1, 4, 4), stage(1, 1, 3, 2, 8, 8, slot=1)],
    ),
    # edge tiles everywhere (9 rows in tiles of 4, 5 channels in tiles of 2
    # or 4), stride 2 with odd Tr, a 5x5 and a 1x1 kernel, flatten head
    "edges_stride2": (
        [(3, 5, 1), (5, 6, 2), (1, 3, 2)],
        (9, 7, 2),
        "flatten",
        [stage(0, 0, 2, 1, 4, 5), stage(1, 2, 4, 4, 3, 2, tk=5, slot=1)],
    ),
    # Tr = Tc = 1 with stride 2: tiles holding no output
    "empty_tiles": (
        [(3, 3, 2), (3, 2, 1)],
        (6, 5, 1),
        "gap",
        [stage(0, 1, 2, 3, 1, 1)],
    ),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def exported(request, tmp_path_factory):
    arch, shape, head, stages = CASES[request.param]
    variables = tiny_variables(arch, shape, 4, head)
    rng = np.random.default_rng(1)
    images = rng.normal(size=(5, *shape)).astype(np.float32)
    out = str(tmp_path_factory.mktemp("hls") / request.param)
    result = export(
        out, entry(arch, *stages), arch, variables, shape, head, 4, images[:3]
    )
    return result, images, verify(result, images)


def test_float_build_matches_jax(exported):
    _, _, report = exported
    assert report.float_rel_error < 1e-4


def test_fixed_build_matches_the_emulation_bit_for_bit(exported):
    _, _, report = exported
    assert report.fixed_bit_exact, report.fixed_mismatches


def test_fixed_point_is_quantized_and_close(exported):
    result, images, _ = exported
    _, maps = reference(result.network, images)
    stages = [list(st.layer_indices) for st in result.design.stages]
    emu = emulate(result.network, stages, result.formats, images)
    err = np.max(np.abs(emu - maps[-1])) / np.max(np.abs(maps[-1]))
    assert 0 < err < 0.02


def test_loop_counts_equal_the_cost_model(exported):
    _, _, report = exported
    assert report.counts_equal, report.loop_counts


def test_expected_counts_by_hand(tmp_path):
    arch, shape, head, stages = CASES["edges_stride2"]
    variables = tiny_variables(arch, shape, 4, head)
    images = np.zeros((1, *shape), np.float32)
    result = export(
        str(tmp_path / "p"), entry(arch, *stages), arch, variables, shape, head, 4,
        images,
    )  # fmt: skip
    counts = expected_counts(result)
    # layer 0: ceil(9/4) ceil(7/5) ceil(5/2) = 3 * 2 * 3 tiles, N = 2 in Tn = 1
    assert counts[0] == csim.LoopCount(36, 36, 36, 18)
    # layer 1 (N=5, M=6, 9x7, stride 2): ceil(9/3) ceil(7/2) ceil(6/4) = 24
    # tiles, ceil(5/4) = 2 input-channel tiles each
    assert counts[1] == csim.LoopCount(48, 48, 48, 24)


def test_project_files(exported):
    result, _, _ = exported
    manifest = read_manifest(result.out)
    assert len(manifest["stages"]) == len(result.design.stages)
    for s, st in enumerate(result.design.stages):
        tcl = open(os.path.join(result.out, f"stage{s}", "run_hls.tcl")).read()
        assert f"set_top cosearch_stage{s}" in tcl and "xc7z020clg400-1" in tcl
        header = open(os.path.join(result.out, f"stage{s}", "accel.h")).read()
        assert f"TM = {st.tiling.tm}, TN = {st.tiling.tn}" in header
        source = open(os.path.join(result.out, f"stage{s}", "accel.cpp")).read()
        assert stage_declarations(st.tiling, f"stage{s}") in source
        assert "HLS ARRAY_PARTITION" in source
    engine = open(os.path.join(result.out, "cosearch_engine.h")).read()
    for pragma in ("HLS UNROLL", "HLS PIPELINE"):
        assert pragma in engine
    assert json.loads(open(os.path.join(result.out, "export.json")).read())
