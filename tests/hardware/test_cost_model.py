"""The batched cost model: golden pipeline figures, edge cases, vmap/jit laws.

Every batch here is padded to the same shapes (B=2048 pairs, L=10 layers,
S=4 stages, P=4 FPGAs) so that the tests (and test_reference.py and the
benchmark's smoke run) share one compiled program.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cosearch.hardware.architecture import Architecture, arch_arrays
from cosearch.hardware.cost_model import evaluate, evaluate_one
from cosearch.hardware.design import Design, Stage, design_arrays
from cosearch.hardware.devices import Device, Platform
from cosearch.hardware.layer_model import COMPUTE, OUTPUT_STORE, Tiling
from cosearch.hardware.platform_arrays import platform_arrays
from oracles.cost_numpy import evaluate_numpy
from oracles.reference import evaluate_reference

B, L, S = 2048, 10, 4
HWC = (32, 32, 3)
ARCH = Architecture(((3, 36, 1), (1, 64, 1)))
TILING_A = Tiling(tm=16, tn=4, tr=64, tc=64, tk=3, wp=4, ip=4, op=4)
TILING_B = Tiling(tm=64, tn=4, tr=8, tc=8, tk=1, wp=8, ip=8, op=1)
DESIGN = Design((Stage(0, 0, 0, TILING_A), Stage(1, 1, 1, TILING_B)))


_ONE = jax.jit(evaluate_one)


def make_platform(dsp=256, bram18=4, lutram=8192, ffs=14336, port_bits=272):
    """Four test FPGAs; slot 1 is exactly at the budget of TILING_B."""
    dev = lambda name, **kw: Device(
        name, luts=10**6, clock_hz=100e6, static_w=1.0, dsp_w=0.001,
        bram_w=0.002, link_bps=1e9, **kw,
    )  # fmt: skip
    big = dev("BIG", dsp=4000, bram18=4000, lutram=10**6, ffs=10**6, port_bits=1024)
    tight = dev(
        "TIGHT", dsp=dsp, bram18=bram18, lutram=lutram, ffs=ffs, port_bits=port_bits
    )
    return Platform("test", (big, tight, big, big))


def run(archs, designs, platform, **kw):
    """Batched figures of the pairs, padded to B pairs (first len(archs) kept).

    With ``kw`` (bits, enforce_bram) the pairs go one by one through an eager
    :func:`evaluate_one` instead, to spare a compilation per static setting.
    """
    count = len(archs)
    archs = list(archs) + [archs[-1]] * (B - count)
    designs = list(designs) + [designs[-1]] * (B - count)
    a = arch_arrays(archs, HWC, max_layers=L)
    d = design_arrays(designs, [x.depth for x in archs], S)
    plat = platform_arrays(platform)
    if not kw:
        out = evaluate(a, d, plat)
        return jax.tree.map(lambda v: np.asarray(v)[:count], out)
    rows = []
    with jax.disable_jit():
        for i in range(count):
            pick = lambda v, i=i: v[i]
            one = evaluate_one(jax.tree.map(pick, a), jax.tree.map(pick, d), plat, **kw)
            rows.append(one)
    return jax.tree.map(lambda *v: np.stack([np.asarray(x) for x in v]), *rows)


def test_golden_two_stage_pipeline():
    res = run([ARCH], [DESIGN], make_platform())
    # Stage 0: layer (n=3, m=36, 32x32, k=3) on TILING_A: 31212 cycles (see
    # test_layer_model), + link of its 36x32x32 16-bit output over 1 Gbit/s:
    # 16*36*32*32 / 1e9 = 5.89824e-4 s -> 3.1212e-4 + 5.89824e-4 = 9.01944e-4 s.
    # Stage 1: layer (n=36, m=64, 32x32, k=1) on TILING_B: tW = 64*4/8 = 32,
    # tI = 4*8*8/8 = 32, tO = 64*8*8/1 = 4096, tC = 64, lat1 = 64,
    # lat2 = max(ceil(36/4)*64, 4096) = 4096 (output), tiles = 4*4*1 = 16
    # -> 65536 cycles = 6.5536e-4 s, no link after the last stage.
    s0, s1 = 3.1212e-4 + 5.89824e-4, 6.5536e-4
    np.testing.assert_allclose(res.layer_cycles[0, :2], [31212, 65536])
    np.testing.assert_array_equal(res.layer_bottleneck[0, :2], [COMPUTE, OUTPUT_STORE])
    np.testing.assert_array_equal(res.layer_stage[0, :3], [0, 1, -1])
    np.testing.assert_allclose(res.stage_seconds[0], [s0, s1, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(res.stage_cycles[0], [s0 * 1e8, 65536, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(res.throughput[0], 1 / s0, rtol=1e-6)
    np.testing.assert_allclose(res.latency[0], s0 + s1, rtol=1e-6)
    np.testing.assert_allclose(res.pipeline_eff[0], (s0 + s1) / (2 * s0), rtol=1e-6)
    # MACs: 36*3*9*32*32 + 64*36*1*32*32 = 995328 + 2359296 = 3354624.
    assert res.macs[0] == 3354624
    # Resources: A: DSP 64, BRAM 420, LUTRAM 768, flip-flops 1,536
    # (test_resources); B (Tm 64, Tn 4, Tr = Tc = 8, Tk 1): DSP 256; input 4
    # banks of 2*8*8 = 128 words, one 512 x 36 block each: BRAM 4; weights 256
    # banks of 2 words in registers: 256*2*16 = 8,192 flip-flops; accumulators
    # 2*64 banks of 64 words x 48 bits in LUTRAM, 4*16 LUTs each: 8,192;
    # bias, scale, shift 64 (48 + 16 + 32) = 6,144 flip-flops, 14,336 in all;
    # ports 16*(8+8+1) = 272. Power = (1 + .064 + .84) + (1 + .256 + .008).
    np.testing.assert_array_equal(res.stage_dsp[0], [64, 256, 0, 0])
    np.testing.assert_array_equal(res.stage_bram18[0], [420, 4, 0, 0])
    np.testing.assert_array_equal(res.stage_lutram[0], [768, 8192, 0, 0])
    np.testing.assert_array_equal(res.stage_ffs[0], [1536, 14336, 0, 0])
    np.testing.assert_array_equal(res.stage_port_bits[0], [192, 272, 0, 0])
    np.testing.assert_allclose(res.power_w[0], 3.168, rtol=1e-6)
    np.testing.assert_allclose(
        res.gops_per_w[0], 2 * 3354624 / s0 / 3.168 / 1e9, rtol=1e-6
    )
    assert res.valid[0] and res.feasible[0]
    np.testing.assert_array_equal(res.stage_mask[0], [True, True, False, False])


@pytest.mark.parametrize(
    "budget, enforce_bram, feasible",
    [
        ({}, True, True),  # exactly at budget
        ({"dsp": 255}, True, False),
        ({"bram18": 3}, True, False),
        ({"lutram": 8191}, True, False),
        ({"ffs": 14335}, True, False),
        ({"bram18": 3, "lutram": 1, "ffs": 1}, False, True),  # memory not enforced
        ({"port_bits": 271}, True, False),
    ],
)
def test_resource_edges(budget, enforce_bram, feasible):
    platform = make_platform(**budget)
    kw = {} if enforce_bram else {"enforce_bram": False}
    res = run([ARCH], [DESIGN], platform, **kw)
    ref = evaluate_reference(ARCH, DESIGN, platform, HWC, enforce_bram=enforce_bram)
    assert bool(res.feasible[0]) == feasible == ref.feasible
    assert bool(res.stage_feasible[0, 1]) == feasible
    assert res.valid[0]


def test_tk_must_cover_kernels():
    small_tk = dataclasses.replace(TILING_A, tk=1)  # layer 0 has K=3
    design = Design((Stage(0, 0, 0, small_tk), DESIGN.stages[1]))
    res = run([ARCH], [design], make_platform())
    assert res.valid[0] and not res.feasible[0]
    np.testing.assert_array_equal(res.stage_feasible[0], [False, True, False, False])
    assert (
        "Tk 1 < kernel 3"
        in evaluate_reference(ARCH, design, make_platform(), HWC).reason
    )


def _invalid_designs():
    a, b = DESIGN.stages
    return {
        "gap": Design((a, dataclasses.replace(b, first=2, last=2))),
        "not covering": Design((a,)),
        "reused FPGA": Design((a, dataclasses.replace(b, device=0))),
        "FPGA out of range": Design((a, dataclasses.replace(b, device=4))),
        "empty": Design(()),
    }


def test_invalid_designs_are_values_not_errors():
    designs = list(_invalid_designs().values())
    res = run([ARCH] * len(designs), designs, make_platform())
    assert not res.valid.any() and not res.feasible.any()
    assert (res.throughput == 0).all() and (res.gops_per_w == 0).all()
    for d in designs:
        assert not evaluate_reference(ARCH, d, make_platform(), HWC).valid


def test_invalid_arrays_num_stages_and_order():
    a = arch_arrays([ARCH], HWC, max_layers=L)
    good = design_arrays([DESIGN], [2], S)
    plat = platform_arrays(make_platform())
    one = lambda d: _ONE(
        jax.tree.map(lambda v: v[0], a), jax.tree.map(lambda v: v[0], d), plat
    )
    assert bool(one(good).valid)
    cases = {
        "zero stages": good.replace(num_stages=np.array([0], np.int32)),
        "too many stages": good.replace(num_stages=np.array([5], np.int32)),
        "decreasing ends": good.replace(stage_end=np.array([[2, 1, 2, 2]], np.int32)),
        "zero tiling": good.replace(
            tiling=np.where(np.arange(8) == 0, 0, good.tiling).astype(np.int32)
        ),
    }
    for name, d in cases.items():
        assert not bool(one(d).valid), name


def test_bits_32_switches_resources():
    res = run([ARCH], [DESIGN], make_platform(), bits=32)
    ref = evaluate_reference(ARCH, DESIGN, make_platform(), HWC, bits=32)
    # A at 32 bits: DSP 5*64 = 320, BRAM 328 (test_resources).
    np.testing.assert_array_equal(res.stage_dsp[0, :2], ref.stage_dsp)
    assert ref.stage_dsp[0] == 320 and ref.stage_bram18[0] == 328
    np.testing.assert_array_equal(res.stage_bram18[0, :2], ref.stage_bram18)
    # 32-bit link: 32*36*32*32 / 1e9 s.
    np.testing.assert_allclose(res.stage_link_seconds[0, 0], 32 * 36 * 1024 / 1e9)
    assert not res.feasible[0] and not ref.feasible  # slot 1 has 256 DSP only


def test_padding_does_not_change_figures():
    deep = Architecture(((3, 24, 1), (5, 36, 2), (1, 48, 1), (7, 24, 2)))
    design = Design(
        (Stage(0, 1, 2, Tiling(16, 4, 16, 16, 5, 4, 4, 4)),
         Stage(2, 3, 3, Tiling(8, 8, 8, 8, 7, 2, 2, 2)))
    )  # fmt: skip
    plat = make_platform()
    res = run([deep], [design], plat)
    ref = evaluate_reference(deep, design, plat, HWC)
    for name in ("throughput", "latency", "gops_per_w", "power_w", "macs"):
        np.testing.assert_allclose(getattr(res, name)[0], getattr(ref, name), rtol=1e-6)
    np.testing.assert_allclose(res.layer_cycles[0, :4], ref.layer_cycles)
    assert (res.layer_cycles[0, 4:] == 0).all() and (res.layer_stage[0, 4:] == -1).all()
    assert not res.stage_mask[0, 2:].any() and (res.stage_seconds[0, 2:] == 0).all()


def _random_batch(seed=0, batch=B):
    from benchmarks.bench_fast_loop import random_pairs

    return random_pairs(jax.random.key(seed), batch=batch, depth=L, pool=S)


def test_vmap_of_one_equals_one_of_each():
    arch, design = _random_batch()
    plat = platform_arrays(make_platform())
    batched = evaluate(arch, design, plat)
    one = _ONE
    for i in (0, 3, 2047):
        single = one(
            jax.tree.map(lambda v, i=i: v[i], arch),
            jax.tree.map(lambda v, i=i: v[i], design),
            plat,
        )
        for name, value in vars(single).items():
            np.testing.assert_array_equal(
                np.asarray(getattr(batched, name))[i], np.asarray(value), err_msg=name
            )


def test_jit_equals_eager():
    arch, design = _random_batch(seed=1)
    plat = platform_arrays(make_platform())
    i = 2
    a, d = jax.tree.map(lambda v, i=i: v[i], arch), jax.tree.map(lambda v: v[i], design)
    with jax.disable_jit():
        eager = evaluate_one(a, d, plat)
    jitted = _ONE(a, d, plat)
    for name, value in vars(eager).items():
        np.testing.assert_allclose(
            np.asarray(getattr(jitted, name)), np.asarray(value), rtol=1e-6,
            err_msg=name,
        )  # fmt: skip


def test_no_recompilation_for_a_repeated_shape():
    arch, design = _random_batch(seed=2)
    plat = platform_arrays(make_platform())
    evaluate(arch, design, plat)
    before = evaluate._cache_size()
    arch2, design2 = _random_batch(seed=3)
    evaluate(arch2, design2, plat)
    assert evaluate._cache_size() == before


def test_numpy_version_agrees_on_hand_pairs():
    designs = [DESIGN, *_invalid_designs().values()]
    archs = [ARCH] * len(designs)
    plat = make_platform()
    res = run(archs, designs, plat)
    a = arch_arrays(archs, HWC, max_layers=L)
    d = design_arrays(designs, [2] * len(designs), S)
    npres = evaluate_numpy(a, d, platform_arrays(plat, xp=np))
    for name, value in vars(npres).items():
        np.testing.assert_allclose(
            np.asarray(value), getattr(res, name), rtol=1e-6, err_msg=name
        )


def test_bad_bits_refused():
    arch, design = _random_batch()
    with pytest.raises(ValueError, match="bits"):
        evaluate(arch, design, platform_arrays(make_platform()), bits=8)


def test_result_is_a_pytree_of_device_arrays():
    arch, design = _random_batch()
    out = evaluate(arch, design, platform_arrays(make_platform()))
    assert out.throughput.shape == (B,) and out.stage_seconds.shape == (B, S)
    assert out.layer_cycles.shape == (B, L) and out.feasible.dtype == jnp.bool_
    assert out.stage_dsp.dtype == jnp.int32 and out.layer_stage.dtype == jnp.int32
