"""Search space: token layout, encode/decode round trips, arrays and masks."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cosearch.hardware.architecture import Architecture, ConvSpec, arch_arrays
from cosearch.hardware.design import Design, Stage, design_arrays
from cosearch.hardware.layer_model import Tiling
from cosearch.policy.masks import (
    advance_mask_state,
    initial_mask_state,
    token_mask,
    uniform_sample,
)
from cosearch.policy.space import (
    KIND_ARCH,
    KIND_CUT,
    KIND_DEVICE,
    KIND_STAGES,
    KIND_TILING,
    SearchSpace,
)
from cosearch.policy.value_sets import TILING_TOKENS, ArchSpace, HardwareSpace

HW = HardwareSpace(
    3,
    tm=(8, 16, 32),
    tn=(4, 8),
    tr=(7, 14, 28),
    tc=(4, 32),
    wp=(1, 2, 4, 8),
    ip=(1, 3),
    op=(2,),
)
FIXED = SearchSpace(ArchSpace(4), HW)
PREDICTABLE = SearchSpace(ArchSpace(4, strides=(1, 2)), HW)


def _archs(space):
    """Architectures that between them use every kernel, filter and stride."""
    a = space.arch
    n = max(len(a.kernels), len(a.filters), len(a.strides))
    out = []
    for j in range(n):
        out.append(
            Architecture(
                tuple(
                    ConvSpec(
                        a.kernels[(i + j) % len(a.kernels)],
                        a.filters[(i + 2 * j) % len(a.filters)],
                        a.strides[(i + j) % len(a.strides)],
                    )
                    for i in range(a.depth)
                )
            )
        )
    return out


def _designs(space, arch):
    """Every partition and device assignment; tilings cycle through all values."""
    depth, pool = space.arch.depth, space.pool_size
    out, n = [], 0
    for m in range(1, min(pool, depth) + 1):
        for cuts in itertools.combinations(range(depth - 1), m - 1):
            bounds = [0, *(c + 1 for c in cuts), depth]
            for devices in itertools.permutations(range(pool), m):
                stages = []
                for s in range(m):
                    first, last = bounds[s], bounds[s + 1] - 1
                    vals = {
                        name: space.hardware.values(name)[
                            n % len(space.hardware.values(name))
                        ]
                        for name in TILING_TOKENS
                    }
                    n += 1
                    tk = max(lay.kernel for lay in arch.layers[first : last + 1])
                    stages.append(Stage(first, last, devices[s], Tiling(tk=tk, **vals)))
                out.append(Design(tuple(stages)))
    return out


def test_layout_lengths():
    # 4 layers x (kernel, filters) + stage count + 3 cuts + 3 slots x 8 = 36.
    assert FIXED.num_tokens == 8 + 1 + 3 + 24
    # One more token per layer for the stride.
    assert PREDICTABLE.num_tokens == 12 + 1 + 3 + 24
    assert FIXED.max_choices == 4
    lay = FIXED.layout
    assert (lay.kind[:8] == KIND_ARCH).all() and lay.kind[8] == KIND_STAGES
    assert (lay.kind[9:12] == KIND_CUT).all()
    assert lay.kind[12] == KIND_DEVICE and (lay.kind[13:20] == KIND_TILING).all()
    assert FIXED.architecture_only().num_tokens == 8


@pytest.mark.parametrize("space", [FIXED, PREDICTABLE], ids=["fixed", "predictable"])
def test_round_trip_over_all_choices(space):
    seen = {name: set() for name in TILING_TOKENS}
    count = 0
    for arch in _archs(space):
        for design in _designs(space, arch):
            tokens = space.encode(arch, design)
            assert tokens.shape == (space.num_tokens,) and tokens.dtype == np.int32
            assert space.decode(tokens) == (arch, design)
            for st in design.stages:
                for name in TILING_TOKENS:
                    seen[name].add(getattr(st.tiling, name))
            count += 1
    # Partitions x assignments: 1*3 + 3*6 + 3*6 = 39 designs per architecture.
    assert count == 39 * len(_archs(space))
    for name in TILING_TOKENS:
        assert seen[name] == set(HW.values(name)), name
    used = {
        (lay.kernel, lay.filters, lay.stride) for a in _archs(space) for lay in a.layers
    }
    assert {k for k, _, _ in used} == set(space.arch.kernels)
    assert {f for _, f, _ in used} == set(space.arch.filters)
    assert {s for _, _, s in used} == set(space.arch.strides)


def test_arch_only_round_trip():
    space = PREDICTABLE.architecture_only()
    for arch in _archs(space):
        tokens = space.encode(arch)
        assert tokens.shape == (12,)
        assert space.decode(tokens) == (arch, None)
    with pytest.raises(ValueError, match="no design"):
        space.encode(arch, _designs(PREDICTABLE, arch)[0])


def test_value_outside_set_names_parameter_and_value():
    arch = _archs(FIXED)[0]
    design = _designs(FIXED, arch)[0]
    st = design.stages[0]
    bad = Design((Stage(st.first, st.last, st.device, Tiling(5, 4, 7, 4, 7, 1, 1, 2)),))
    with pytest.raises(ValueError, match=r"tm=5 .*\(8, 16, 32\)"):
        FIXED.encode(arch, bad)
    wide = Architecture(((3, 24, 1), (3, 24, 1), (3, 100, 1), (3, 24, 1)))
    with pytest.raises(ValueError, match="filters=100"):
        FIXED.encode(wide, design)
    strided = Architecture(((3, 24, 2),) * 4)
    with pytest.raises(ValueError, match="stride=2"):
        FIXED.encode(strided, design)
    with pytest.raises(ValueError, match="3 layers"):
        FIXED.encode(Architecture(((3, 24, 1),) * 3), design)


def test_value_sets_are_checked_and_sorted():
    assert HardwareSpace(2, tm=(32, 8, 16)).tm == (8, 16, 32)
    with pytest.raises(ValueError, match="tn: values repeat"):
        HardwareSpace(2, tn=(4, 4))
    with pytest.raises(ValueError, match="kernels: the value set is empty"):
        ArchSpace(3, kernels=())
    with pytest.raises(ValueError, match="depth"):
        ArchSpace(0)
    with pytest.raises(ValueError, match="pool_size"):
        HardwareSpace(0)


def test_decode_rejects_invalid_tokens():
    arch = _archs(FIXED)[0]
    two = next(d for d in _designs(FIXED, arch) if d.num_stages == 2)
    tokens = FIXED.encode(arch, two)
    slot = lambda s: FIXED.positions(KIND_DEVICE)[s]

    bad = tokens.copy()
    bad[slot(1)] = bad[slot(0)]  # same FPGA twice
    with pytest.raises(ValueError, match="reuse an FPGA"):
        FIXED.decode(bad)
    bad = tokens.copy()
    bad[slot(2) + 1] = 1  # padding slot not 0
    with pytest.raises(ValueError, match="slot 2 is padding"):
        FIXED.decode(bad)
    bad = tokens.copy()
    bad[FIXED.positions(KIND_CUT)] = 1  # 3 cuts, stage count says 2
    with pytest.raises(ValueError, match="2 stages but there are 3 cuts"):
        FIXED.decode(bad)
    bad = tokens.copy()
    bad[FIXED.positions(KIND_TILING, 6)[0]] = 1  # op has one value
    with pytest.raises(ValueError, match="has 1 choices"):
        FIXED.decode(bad)
    with pytest.raises(ValueError, match="expected 36 tokens"):
        FIXED.decode(tokens[:-1])


@pytest.mark.parametrize("jit", [False, True], ids=["np", "jit"])
def test_to_arrays_matches_record_arrays(jit):
    space = PREDICTABLE
    archs, designs = [], []
    for arch in _archs(space):
        for design in _designs(space, arch)[::5]:
            archs.append(arch)
            designs.append(design)
    tokens = space.encode_batch(archs, designs)
    if jit:
        got = jax.jit(lambda t: space.to_arrays(t, (32, 32, 3), xp=jnp))(tokens)
    else:
        got = space.to_arrays(tokens, (32, 32, 3))
    want = (
        arch_arrays(archs, (32, 32, 3)),
        design_arrays(designs, space.arch.depth, space.pool_size),
    )
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(np.asarray(g), w)


@functools.partial(jax.jit, static_argnums=0)
def _walk_masks(space, tokens):
    """Masks ``[B, T, V]`` seen along token sequences ``[B, T]``."""

    def body(state, xs):
        t, tok = xs
        return advance_mask_state(space, t, state, tok), token_mask(space, t, state)

    steps = (jnp.arange(space.num_tokens), tokens.T)
    _, masks = jax.lax.scan(body, initial_mask_state(tokens.shape[0]), steps)
    return masks.transpose(1, 0, 2)


def test_masks_allow_every_valid_sequence_and_force_padding():
    space = FIXED
    arch = _archs(space)[0]
    designs = _designs(space, arch)
    tokens = np.stack([space.encode(arch, d) for d in designs])
    masks = np.asarray(_walk_masks(space, jnp.asarray(tokens)))  # [B, T, V]
    b, t = np.meshgrid(np.arange(len(tokens)), np.arange(space.num_tokens))
    assert masks[b, t, tokens[b, t]].all()
    # Choices beyond each step's value set are never allowed.
    beyond = np.arange(space.max_choices) >= space.layout.num_choices[:, None]
    assert not (masks & beyond).any()
    # One stage: no cut may be made, and slots 1 and 2 are forced to token 0.
    one = masks[0]
    assert designs[0].num_stages == 1
    cuts = space.positions(KIND_CUT)
    assert (one[cuts] == [True, False, False, False]).all()
    padding = slice(space.slot_position(1), space.num_tokens)
    assert (one[padding] == [True, False, False, False]).all()
    # Three stages over four layers after "no cut, no cut": both later cuts
    # are forced to 1; devices exclude those already taken.
    three = next(
        i for i, d in enumerate(designs) if d.num_stages == 3 and d.stages[0].last == 1
    )
    m = masks[three]
    assert (m[cuts[1:], :2] == [False, True]).all()
    dev = space.positions(KIND_DEVICE)
    first = designs[three].stages[0].device
    assert not m[dev[1], first] and m[dev[1]].sum() == 2
    assert m[dev[2]].sum() == 1


def test_uniform_sample_is_always_valid():
    space = SearchSpace(ArchSpace(6, strides=(1, 2)), HardwareSpace(4))
    stage_counts, first_stage = [], []
    for seed in range(4):
        tokens = np.asarray(uniform_sample(space, jax.random.key(seed), 64))
        for arch, design in space.decode_batch(tokens):
            assert arch.depth == 6
            design.validate(6, 4)
            stage_counts.append(design.num_stages)
            if design.num_stages == 2:
                first_stage.append(design.stages[0].last + 1)
    # The stage count is one uniform token: about 64 of 256 draws each.
    counts = np.bincount(stage_counts, minlength=5)[1:]
    assert counts.min() > 40 and counts.max() < 90, counts
    # With two stages the one cut is uniform over the 5 boundaries: mean
    # first-stage length 3 (per-step fair coins would give about 2).
    assert 2.5 < np.mean(first_stage) < 3.5, np.mean(first_stage)


def test_hardware_space_from_grids_is_the_union():
    class Grid:  # any record with the seven value lists
        def __init__(self, scale):
            self.tm = (4 * scale, 8 * scale)
            self.tn, self.tr, self.tc = (2,), (8, 16), (8,)
            self.wp, self.ip, self.op = (1, scale), (1,), (2,)

    hw = HardwareSpace.union([Grid(1), Grid(4), Grid(4)])
    assert hw.pool_size == 3
    assert hw.tm == (4, 8, 16, 32) and hw.wp == (1, 4) and hw.tr == (8, 16)
