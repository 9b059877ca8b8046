import numpy as np
import pytest

from cosearch.policy import reward


def test_coexplore_reward_golden():
    cfg = reward.RewardConfig(alpha=0.5, acc_lo=0.5, acc_hi=0.9, eff_lo=100, eff_hi=300)
    acc = np.array([0.7, 0.9, 0.3, 0.8])
    eff = np.array([200.0, 400.0, 100.0, 50.0])
    pruned = np.array([False, False, False, True])
    r = reward.coexplore_reward(acc, eff, pruned, cfg)
    # acc_n = 2*(0.7-0.5)/0.4 - 1 = 0; eff_n = 2*(200-100)/200 - 1 = 0 -> 0
    # acc 0.9 -> 1; eff 400 clipped -> 1 -> 1
    # acc 0.3 -> clipped -1; eff 100 -> -1 -> -1
    # pruned -> -1
    np.testing.assert_allclose(r, [0.0, 1.0, -1.0, -1.0], atol=1e-12)


def test_alpha_weighs_accuracy():
    cfg = reward.RewardConfig(alpha=1.0, acc_lo=0.0, acc_hi=1.0, eff_lo=0, eff_hi=1)
    r = reward.coexplore_reward(
        np.array([0.75]), np.array([0.0]), np.array([False]), cfg
    )
    # 2 * 0.75 - 1 = 0.5, efficiency weight 0.
    np.testing.assert_allclose(r, [0.5])


def test_soft_constraint_penalises_only_under_spec():
    acc = np.array([0.8, 0.8])
    thr = np.array([50.0, 200.0])
    r = reward.soft_constraint_reward(acc, thr, spec_fps=100.0, w=-0.07)
    # Under spec: 0.8 * (100/50)^-0.07 = 0.8 * 2^-0.07; over spec: 0.8.
    np.testing.assert_allclose(r, [0.8 * 2**-0.07, 0.8])
    assert r[0] < r[1]


@pytest.mark.parametrize(
    "kwargs",
    [dict(alpha=1.5), dict(acc_lo=0.9, acc_hi=0.5), dict(eff_lo=10, eff_hi=10)],
)
def test_bad_reward_config_refused(kwargs):
    with pytest.raises(ValueError):
        reward.RewardConfig(**kwargs)


def test_shrink_accuracy_ties_differences_below_the_noise():
    measured = np.array([0.80, 0.81, 0.79, 0.80])  # std 0.0082
    acc = np.array([0.79, 0.81])
    # Spread no larger than the noise: every child gets the mean.
    np.testing.assert_allclose(
        reward.shrink_accuracy(acc, measured, noise=0.01), [0.8, 0.8]
    )
    # Spread far above the noise: differences kept (k = 1 - 0.001^2 / var).
    wide = np.array([0.6, 0.7, 0.8, 0.9])  # var = 0.0166...
    k = 1 - 0.001**2 / wide.var(ddof=1)
    np.testing.assert_allclose(
        reward.shrink_accuracy(acc, wide, noise=0.001), 0.75 + k * (acc - 0.75)
    )
    # No noise given: unchanged; too few measured: the mean; none: unchanged.
    np.testing.assert_array_equal(reward.shrink_accuracy(acc, wide, 0.0), acc)
    np.testing.assert_allclose(reward.shrink_accuracy(acc, [0.7, 0.8], 0.01), 0.75)
    np.testing.assert_array_equal(reward.shrink_accuracy(acc, [], 0.01), acc)


def test_the_accuracy_mode_asks_for_the_most_accurate_design_at_spec():
    """acc_n + tie_weight eff_n: one point of accuracy (acc_n 0.2 on a
    10-point range) outweighs the whole efficiency range (eff_n 2 x 0.01);
    equal accuracies are ordered by efficiency; pruned stays -1."""
    bounds = {"acc_lo": 0.7, "acc_hi": 0.8, "eff_lo": 1000.0, "eff_hi": 2000.0}
    cfg = reward.RewardConfig(**bounds, mode="accuracy", tie_weight=0.01)
    acc = np.array([0.76, 0.75, 0.75, 0.9])
    eff = np.array([1000.0, 2000.0, 1500.0, 2000.0])
    r = reward.coexplore_reward(acc, eff, np.array([False, False, False, True]), cfg)
    # acc_n: 0.2, 0.0, 0.0; eff_n: -1, 1, 0.
    np.testing.assert_allclose(r, [0.2 - 0.01, 0.01, 0.0, -1.0])
    assert r[0] > r[1] > r[2]
    tradeoff = reward.RewardConfig(**bounds)
    trade = reward.coexplore_reward(acc, eff, np.zeros(4, bool), tradeoff)
    assert trade[1] > trade[0]  # the trade-off prefers the faster one


@pytest.mark.parametrize(
    "kwargs, match",
    [({"mode": "fast"}, "reward mode"), ({"tie_weight": 1.0}, "tie_weight")],
)
def test_bad_reward_modes_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        reward.RewardConfig(**kwargs)
