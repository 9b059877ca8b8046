"""Controller: valid samples, sample/log-prob agreement, a proper distribution."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cosearch.hardware.architecture import Architecture
from cosearch.hardware.design import Design, Stage
from cosearch.hardware.layer_model import Tiling
from cosearch.policy.controller import Controller, init_params, log_prob, sample
from cosearch.policy.space import KIND_DEVICE, SearchSpace
from cosearch.policy.value_sets import ArchSpace, HardwareSpace

# Predictable stride, mixed4-sized pool, 6 values per tiling parameter.
CO = SearchSpace(ArchSpace(6, strides=(1, 2)), HardwareSpace(4))
CO_CTRL = Controller(CO, hidden=35, temperature=1.5, tanh_c=2.5, init_scale=0.5)
# Small enough to enumerate; the pool (3) is larger than the depth (2).
TINY = SearchSpace(
    ArchSpace(2, kernels=(1, 3), filters=(24,)),
    HardwareSpace(3, tm=(8, 16), tn=(4,), tr=(8,), tc=(8,), wp=(1,), ip=(1,), op=(1,)),
)
TINY_CTRL = Controller(TINY, hidden=8, temperature=0.5, tanh_c=1.0)


@pytest.fixture(scope="module")
def co_params():
    return init_params(CO_CTRL, jax.random.key(0))


@pytest.fixture(scope="module")
def co_sample(co_params):
    keys = jax.random.split(jax.random.key(1), 12)
    return [sample(CO_CTRL, co_params, k, 32) for k in keys]


def test_every_sample_decodes_to_a_valid_pair(co_sample):
    stage_counts = set()
    for s in co_sample:
        assert s.tokens.shape == (32, CO.num_tokens) and s.tokens.dtype == jnp.int32
        assert s.log_probs.dtype == jnp.float32 and s.entropy.shape == s.tokens.shape
        for arch, design in CO.decode_batch(s.tokens):  # raises if invalid
            design.validate(arch.depth, CO.pool_size)
            stage_counts.add(design.num_stages)
    assert stage_counts == {1, 2, 3, 4}


def test_log_prob_of_sample_equals_sampled_log_probs(co_params, co_sample):
    for s in co_sample[:4]:
        lp, ent = log_prob(CO_CTRL, co_params, s.tokens)
        np.testing.assert_allclose(lp, s.log_probs, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(ent, s.entropy, rtol=1e-6, atol=1e-6)
        assert np.all(np.asarray(s.log_probs) <= 0)


def test_forced_padding_tokens_have_zero_log_prob(co_sample):
    tokens = np.concatenate([np.asarray(s.tokens) for s in co_sample])
    lp = np.concatenate([np.asarray(s.log_probs) for s in co_sample])
    ent = np.concatenate([np.asarray(s.entropy) for s in co_sample])
    _, darr = CO.to_arrays(tokens, (32, 32, 3))
    slot_len = 8
    checked = 0
    for i, m in enumerate(np.asarray(darr.num_stages)):
        pad = slice(CO.slot_position(int(m)), CO.num_tokens)
        assert (tokens[i, pad] == 0).all()
        assert (lp[i, pad] == 0).all() and (ent[i, pad] == 0).all()
        checked += (CO.pool_size - int(m)) * slot_len
    assert checked > 0
    # Real steps with several choices have positive entropy.
    dev0 = CO.positions(KIND_DEVICE)[0]
    assert (ent[:, dev0] > 0).all()


def test_log_prob_of_given_tokens(co_params, co_sample):
    arch = Architecture.parse("3,36,1;5,36,1;1,64,1;3,48,2;7,24,1;1,64,1")
    design = Design(
        (
            Stage(0, 2, 3, Tiling(64, 16, 16, 32, 5, 8, 4, 4)),
            Stage(3, 5, 1, Tiling(16, 8, 8, 8, 7, 2, 2, 2)),
        )
    )
    # Row 0 is the given pair; the rest of the batch (shape of the samples,
    # so nothing recompiles) is sampled.
    tokens = co_sample[0].tokens.at[0].set(CO.encode(arch, design))
    lp, _ = log_prob(CO_CTRL, co_params, tokens)
    assert np.isfinite(np.asarray(lp)).all() and float(lp[0].sum()) < 0
    np.testing.assert_allclose(lp[1:], co_sample[0].log_probs[1:], atol=1e-6)
    # A token the masks forbid (FPGA 3 again in slot 1) has probability 0.
    bad = tokens.at[0, CO.positions(KIND_DEVICE)[1]].set(3)
    lp_bad, _ = log_prob(CO_CTRL, co_params, bad)
    assert np.isneginf(np.asarray(lp_bad)).sum() == 1
    assert np.isneginf(lp_bad[0, CO.positions(KIND_DEVICE)[1]])


def _all_tiny_sequences():
    out = []
    for kernels in itertools.product((1, 3), repeat=2):
        arch = Architecture(tuple((k, 24, 1) for k in kernels))
        tk = max(kernels)
        for devices in itertools.permutations(range(3), 1):
            for tm in (8, 16):
                stage = Stage(0, 1, devices[0], Tiling(tm, 4, 8, 8, tk, 1, 1, 1))
                out.append(TINY.encode(arch, Design((stage,))))
        for devices in itertools.permutations(range(3), 2):
            for tms in itertools.product((8, 16), repeat=2):
                stages = tuple(
                    Stage(
                        i, i, devices[i], Tiling(tms[i], 4, 8, 8, kernels[i], 1, 1, 1)
                    )
                    for i in range(2)
                )
                out.append(TINY.encode(arch, Design(stages)))
    return np.stack(out)


def test_probabilities_of_all_valid_sequences_sum_to_one():
    params = init_params(TINY_CTRL, jax.random.key(3))
    # Large weights: the distribution is far from uniform, but tanh_c bounds it.
    params = jax.tree.map(lambda p: 30.0 * p, params)
    tokens = _all_tiny_sequences()
    assert len(tokens) == 4 * (3 * 2 + 6 * 4)
    lp, _ = log_prob(TINY_CTRL, params, jnp.asarray(tokens))
    total = float(jnp.exp(lp.sum(axis=1)).sum())
    assert abs(total - 1.0) < 1e-4
    # |logit| <= tanh_c = 1 (the temperature acts inside the tanh), so a
    # step's log-prob is at least -2 - log(V), V = 3.
    assert float(lp.min()) >= -2.0 - np.log(3) - 1e-5
    assert float(lp.min()) < -1.0  # the weights do push the distribution


def test_sample_compiles_once_per_shape(co_params):
    sample(CO_CTRL, co_params, jax.random.key(5), 32).tokens.block_until_ready()
    before = sample._cache_size()
    other = jax.tree.map(lambda p: p + 0.01, co_params)
    same = Controller(CO, hidden=35, temperature=1.5, tanh_c=2.5, init_scale=0.5)
    sample(same, other, jax.random.key(6), 32).tokens.block_until_ready()
    assert sample._cache_size() == before


def test_architecture_only_controller():
    space = CO.architecture_only()
    ctrl = Controller(space, hidden=16)
    params = init_params(ctrl, jax.random.key(7))
    s = sample(ctrl, params, jax.random.key(8), 16)
    assert s.tokens.shape == (16, 18)
    for arch, design in space.decode_batch(s.tokens):
        assert design is None and arch.depth == 6


def test_bad_temperature_is_rejected():
    with pytest.raises(ValueError, match="temperature"):
        init_params(Controller(TINY, temperature=0.0), jax.random.key(0))


def test_init_params_draw(co_params):
    p = co_params["params"]
    assert p["embedding"].shape == (CO.num_tokens, CO.max_choices, 35)
    assert p["head_kernel"].shape == (CO.num_tokens, 35, CO.max_choices)
    leaves = jax.tree_util.tree_leaves_with_path(co_params)
    for path, leaf in leaves:
        if "bias" in str(path[-1]):
            assert not np.asarray(leaf).any(), path
        else:  # U(-0.5, 0.5), and the leaves are not copies of each other
            assert np.abs(leaf).max() <= 0.5 and np.asarray(leaf).std() > 0.2, path
    weights = [np.asarray(x).ravel()[:8] for pth, x in leaves if "bias" not in str(pth)]
    assert len({w.tobytes() for w in weights}) == len(weights)
