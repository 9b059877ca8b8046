"""REINFORCE: learns a toy reward, baseline arithmetic, one compile per shape."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cosearch.hardware.architecture import Architecture
from cosearch.hardware.design import Design, Stage
from cosearch.hardware.layer_model import Tiling
from cosearch.policy import reinforce
from cosearch.policy.controller import Controller, log_prob, sample
from cosearch.policy.space import SearchSpace
from cosearch.policy.value_sets import ArchSpace, HardwareSpace

SPACE = SearchSpace(
    ArchSpace(3),
    HardwareSpace(
        2,
        tm=(8, 16),
        tn=(8, 16),
        tr=(8, 16),
        tc=(8, 16),
        wp=(1, 2),
        ip=(1, 2),
        op=(1, 2),
    ),
)
CTRL = Controller(SPACE, hidden=35)
CONFIG = reinforce.ReinforceConfig(
    learning_rate=0.01, entropy_coef=1e-3, baseline_decay=0.9, grad_clip=5.0
)
BATCH = 32
# The known best sequence: two stages, FPGA 1 then FPGA 0.
TARGET = SPACE.encode(
    Architecture.parse("3,36;7,64;1,24"),
    Design(
        (
            Stage(0, 1, 1, Tiling(16, 8, 16, 8, 7, 2, 1, 2)),
            Stage(2, 2, 0, Tiling(8, 16, 8, 16, 1, 1, 2, 1)),
        )
    ),
)


def toy_reward(tokens):
    """Fraction of tokens equal to TARGET, ``[B]``; 1 only for TARGET."""
    return (tokens == jnp.asarray(TARGET)).mean(axis=1)


@pytest.fixture(scope="module")
def trained():
    state = reinforce.init(CONFIG, CTRL, jax.random.key(0))
    key = jax.random.key(1)
    history = []  # (state before, tokens, rewards, metrics)
    for step in range(300):
        s = sample(CTRL, state.params, jax.random.fold_in(key, step), BATCH)
        rewards = toy_reward(s.tokens)
        new_state, metrics = reinforce.update(state, s.tokens, rewards)
        history.append((state, s.tokens, rewards, jax.device_get(metrics)))
        state = new_state
        recent = [m["reward_mean"] for *_, m in history[-30:]]
        if len(recent) == 30 and np.mean(recent) > 0.9:
            break
    return state, history


def test_reaches_the_known_best_sequence(trained):
    state, history = trained
    means = [m["reward_mean"] for *_, m in history]
    assert means[0] < 0.6  # a near-uniform start is far from the target
    assert np.mean(means[-30:]) > 0.9
    assert len(history) < 300, len(history)
    print(f"toy reward: mean > 0.9 over 30 updates after {len(history)} updates")
    # The greedy sequence is now mostly the target.
    s = sample(CTRL, state.params, jax.random.key(2), BATCH)
    assert float(toy_reward(s.tokens).mean()) > 0.9
    assert int(state.step) == len(history)


def test_baseline_is_the_moving_average_of_batch_means(trained):
    _, history = trained
    m0, m1 = history[0][3], history[1][3]
    # First batch: the baseline is its own mean, so advantages average 0.
    assert m0["baseline"] == pytest.approx(m0["reward_mean"], abs=1e-6)
    assert m0["advantage_mean"] == pytest.approx(0.0, abs=1e-6)
    # Then b <- 0.9 b + 0.1 mean(R), and A = R - (b before the update).
    want = 0.9 * m0["baseline"] + 0.1 * m1["reward_mean"]
    assert m1["baseline"] == pytest.approx(want, abs=1e-6)
    assert m1["advantage_mean"] == pytest.approx(
        m1["reward_mean"] - m0["baseline"], abs=1e-6
    )
    # It tracks the mean reward: within 0.05 of the last batches' mean.
    recent = np.mean([m["reward_mean"] for *_, m in history[-10:]])
    assert abs(history[-1][3]["baseline"] - recent) < 0.05


def test_loss_is_the_reinforce_objective(trained):
    _, history = trained
    state, tokens, rewards, metrics = history[5]
    lp, ent = log_prob(CTRL, state.params, tokens)
    adv = rewards - state.baseline
    want = -jnp.mean(adv * lp.sum(1)) - CONFIG.entropy_coef * ent.sum(1).mean()
    assert metrics["loss"] == pytest.approx(float(want), rel=1e-5, abs=1e-6)
    assert metrics["entropy"] == pytest.approx(float(ent.sum(1).mean()), rel=1e-5)
    assert np.isfinite(metrics["grad_norm"]) and metrics["grad_norm"] > 0


def test_nan_rewards_are_left_out():
    """A sequence without a reward adds nothing to the policy gradient or the
    baseline: with no entropy term, [a, b] with rewards [r, NaN] updates like
    [a] with [r]."""
    config = reinforce.ReinforceConfig(learning_rate=0.01, entropy_coef=0.0)
    state = reinforce.init(config, CTRL, jax.random.key(3))
    tokens = sample(CTRL, state.params, jax.random.key(4), 2).tokens
    state = state.replace(step=jnp.ones((), jnp.int32), baseline=jnp.float32(0.2))
    both, m2 = reinforce.update(state, tokens, jnp.array([0.7, jnp.nan]))
    one, m1 = reinforce.update(state, tokens[:1], jnp.array([0.7]))
    pairs = zip(jax.tree.leaves(both.params), jax.tree.leaves(one.params), strict=True)
    for a, b in pairs:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert float(m2["reward_mean"]) == pytest.approx(0.7)
    assert float(both.baseline) == pytest.approx(float(one.baseline))


def test_update_compiles_once_per_shape(trained):
    state, history = trained
    tokens = history[-1][1]
    state, _ = reinforce.update(state, tokens, toy_reward(tokens))
    size = reinforce.update._cache_size()
    for i in range(3):
        rewards = jax.random.uniform(jax.random.key(i), (BATCH,))
        state, _ = reinforce.update(state, tokens, rewards)
    jax.block_until_ready(state)
    assert reinforce.update._cache_size() == size


def test_optimizer_clips_the_global_norm():
    cfg = reinforce.ReinforceConfig(learning_rate=0.5, grad_clip=0.1, optimizer="sgd")
    no_clip = reinforce.ReinforceConfig(
        learning_rate=0.5, grad_clip=None, optimizer="sgd"
    )
    params = {"a": jnp.zeros(3), "b": jnp.zeros((2, 2))}
    grads = {"a": jnp.full(3, 10.0), "b": jnp.full((2, 2), -10.0)}

    @jax.jit
    def step_norms(grads):
        out = []
        for c in (cfg, no_clip):
            tx = reinforce.make_optimizer(c)
            updates, _ = tx.update(grads, tx.init(params), params)
            out.append(optax.tree.norm(updates))
        return out

    clipped, plain = step_norms(grads)
    # SGD step = -lr * clipped gradient, whose global norm is 0.1.
    assert float(clipped) == pytest.approx(0.5 * 0.1, rel=1e-5)
    # |g| = sqrt(7 * 10^2).
    assert float(plain) == pytest.approx(0.5 * np.sqrt(700), rel=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"baseline_decay": 1.0}, "baseline_decay"),
        ({"entropy_coef": -1.0}, "entropy_coef"),
        ({"grad_clip": 0.0}, "grad_clip"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of"),
    ],
)
def test_config_is_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        reinforce.ReinforceConfig(**kwargs)
