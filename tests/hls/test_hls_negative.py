"""Negative controls of the C-simulation checks: the verification reports a
one-bit change of one weight, a loop bound one smaller and an accelerator
that wraps instead of saturating, and the emulation matches the C-simulation
bit for bit where activations saturate."""

import shutil

import numpy as np
import pytest

from cosearch.hls import csim
from cosearch.hls.export import export
from cosearch.hls.fixed import WORD_BITS, emulate, quantize
from cosearch.hls.project import ENGINE_FILE
from cosearch.hls.verify import verify
from tests.hls.helpers import entry, stage, tiny_variables

pytestmark = pytest.mark.skipif(
    not csim.have_compiler(), reason="C-simulation needs g++ and make"
)

# The smallest two-stage design of test_hls_csim ("dividing"): layer 0 on
# stage 0, layer 1 on stage 1, tiles dividing every layer; and the same
# network on one stage (stage 1's accelerator), where layer 0's outputs go
# into layer 1 as they are stored, with no conversion between stages.
ARCH = [(3, 4, 1), (3, 6, 1)]
INPUT_SHAPE = (8, 8, 1)
HEAD = "gap"
CLASSES = 4
DESIGNS = {
    "two_stages": [stage(0, 0, 2, 1, 4, 4), stage(1, 1, 3, 2, 8, 8, slot=1)],
    "one_stage": [stage(0, 1, 3, 2, 8, 8)],
}
IMAGES = 5
CALIBRATION_IMAGES = 3
FLOAT_TOLERANCE = 1e-4  # float build vs JAX, relative (as test_hls_csim)

WORD_MAX = 2 ** (WORD_BITS - 1) - 1  # raw data_t extremes
WORD_MIN = -(2 ** (WORD_BITS - 1))

# One bit of one weight: the least significant bit of layer 0's first
# weight, in the fixed build's parameter file (int64 raws, kernel first).
FLIPPED_LAYER = 0
FLIPPED_WEIGHT = 0
FLIPPED_BIT = 0
PARAM_WORD = "<i8"

# A loop bound one smaller: the output-row loop of the MAC array (compute)
# runs t.orows - 1 rows on layer 1 only, picked by its shape (N, M) at run
# time since every layer shares the engine's template. Stage 1 has one row
# tile (Tr = R = 8), so layer 1's last output row alone misses its sums.
MUTATED_LAYER = 1
COMPUTE_ANCHOR = "void compute("
ROW_BOUND = "r < t.orows;"
LAST_ROW = INPUT_SHAPE[0] - 1

# Images far outside the calibration range (normal(0, 1) images).
OUT_OF_RANGE_SCALE = 100.0
INTERMEDIATE_LAYER = 0


def export_design(tmp_path_factory, name):
    """The export of ``DESIGNS[name]`` and its images."""
    variables = tiny_variables(ARCH, INPUT_SHAPE, CLASSES, HEAD)
    images = np.random.default_rng(1).normal(size=(IMAGES, *INPUT_SHAPE))
    images = images.astype(np.float32)
    out = str(tmp_path_factory.mktemp("hls") / name)
    result = export(
        out, entry(ARCH, *DESIGNS[name]), ARCH, variables, INPUT_SHAPE, HEAD,
        CLASSES, images[:CALIBRATION_IMAGES],
    )  # fmt: skip
    return result, images


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The two-stage export, its images and the verification of the
    unmodified project (which builds both binaries once for the copies
    below)."""
    result, images = export_design(tmp_path_factory, "two_stages")
    return result, images, verify(result, images)


@pytest.fixture(scope="module")
def one_stage(tmp_path_factory):
    """The one-stage export and its images (not yet built)."""
    return export_design(tmp_path_factory, "one_stage")


def copy_project(result, dest):
    """The export with its project copied to ``dest`` (times kept, so the
    built binaries stay up to date until a source is edited)."""
    shutil.copytree(result.out, dest)
    return result._replace(out=str(dest))


def edit(path, old, new, after=""):
    """Replace the first ``old`` after ``after`` in a file (both must exist)."""
    text = path.read_text()
    start = text.index(after)
    at = text.index(old, start)
    path.write_text(text[:at] + new + text[at + len(old) :])


def max_value(fmt):
    """The largest value of a stage's data_t."""
    return WORD_MAX * 2.0**-fmt.data_frac


def stage_layers(result):
    """The layer indices of each stage (what :func:`emulate` takes)."""
    return [list(st.layer_indices) for st in result.design.stages]


def test_unmodified_export_verifies_clean(clean):
    """The baseline of the controls below: the untouched project matches the
    emulation bit for bit, JAX in float and the cost model's loop counts."""
    _, _, report = clean
    assert report.fixed_bit_exact and report.fixed_mismatches == 0
    assert report.float_rel_error < FLOAT_TOLERANCE
    assert report.counts_equal, report.loop_counts


def test_one_flipped_weight_bit_is_reported(clean, tmp_path):
    """One bit flipped in one weight of a layer's fixed-point parameter file
    (its least significant bit, after export, before C-simulation) makes the
    fixed build differ from the emulation, and the report says so; the float
    build, which reads the other file, still matches JAX."""
    result, images, _ = clean
    flipped = copy_project(result, tmp_path / "flipped")
    path = tmp_path / "flipped" / "params" / f"layer{FLIPPED_LAYER}.q"
    raws = np.fromfile(path, PARAM_WORD)
    raws[FLIPPED_WEIGHT] ^= 1 << FLIPPED_BIT
    raws.tofile(path)
    report = verify(flipped, images)
    assert not report.fixed_bit_exact
    assert report.fixed_mismatches > 0
    assert report.as_json()["fixed_mismatches"] == report.fixed_mismatches
    assert report.float_rel_error < FLOAT_TOLERANCE


def test_loop_bound_one_smaller_is_reported(clean, tmp_path):
    """The output-row bound of one layer's compute loop one smaller in the
    generated C++: both builds' outputs differ (mismatches against the
    emulation, a float error against JAX), only in that layer's last output
    row, while the tile counts, which the change leaves alone, still equal
    the cost model's."""
    result, images, _ = clean
    mutated = copy_project(result, tmp_path / "mutated")
    m, n = result.network.layers[MUTATED_LAYER].kernel.shape[:2]
    edit(
        tmp_path / "mutated" / ENGINE_FILE,
        ROW_BOUND,
        f"r < t.orows - (L.N == {n} && L.M == {m} ? 1 : 0);",
        after=COMPUTE_ANCHOR,
    )
    report = verify(mutated, images)
    assert not report.fixed_bit_exact
    assert report.fixed_mismatches > 0
    assert report.float_rel_error > FLOAT_TOLERANCE
    assert report.counts_equal, report.loop_counts
    fixed = csim.run(mutated.out, images, "fixed")
    emu = emulate(result.network, stage_layers(result), result.formats, images)
    rows = np.nonzero(fixed.features != emu)[1]
    assert len(rows) == report.fixed_mismatches
    assert set(rows.tolist()) == {LAST_ROW}


@pytest.mark.parametrize("design", ["two_stages", "one_stage"])
def test_saturation_matches_the_emulation_bit_for_bit(design, request):
    """Images 100 times the calibration range saturate the input quantizer
    (both ends), layer 0's outputs (inside the network: on one stage they go
    into layer 1 as stored, on two they also pass the stage boundary's
    conversion) and the last layer's, and the fixed build still equals the
    emulation bit for bit."""
    if design == "two_stages":
        result, images, _ = request.getfixturevalue("clean")
    else:
        result, images = request.getfixturevalue(design)
    big = images * OUT_OF_RANGE_SCALE
    report = verify(result, big)
    assert report.fixed_bit_exact, report.fixed_mismatches
    first, last = result.formats[0], result.formats[-1]
    raw_in = quantize(big, first.data_frac, WORD_BITS)
    assert raw_in.max() == WORD_MAX and raw_in.min() == WORD_MIN
    fmt = result.formats[result.design.stage_of(INTERMEDIATE_LAYER)]
    inner = emulate(result.network, [[INTERMEDIATE_LAYER]], [fmt], big)
    assert np.any(inner == max_value(fmt))
    fixed = csim.run(result.out, big, "fixed")
    assert np.max(fixed.features) == max_value(last)
    emu = emulate(result.network, stage_layers(result), result.formats, big)
    np.testing.assert_array_equal(fixed.features, emu)


def test_wrapping_instead_of_saturating_is_reported(clean, tmp_path):
    """Stage 0's data_t wrapping (AP_WRAP) instead of saturating in the
    generated C++ is reported on the out-of-range images, and on them alone
    (in range the two agree): the saturation the test above sees matters to
    the compared outputs."""
    result, images, _ = clean
    wrapping = copy_project(result, tmp_path / "wrapping")
    fmt = result.formats[0]
    data_t = fmt.typedefs()["data_t"]
    assert "AP_SAT" in data_t
    edit(
        tmp_path / "wrapping" / "stage0" / "accel.h",
        f"{data_t} data_t;",
        f"{data_t.replace('AP_SAT', 'AP_WRAP')} data_t;",
    )
    assert verify(wrapping, images).fixed_bit_exact
    report = verify(wrapping, images * OUT_OF_RANGE_SCALE)
    assert not report.fixed_bit_exact
    assert report.fixed_mismatches > 0
