"""The accuracy expected of untrained proposals: predictor or scores."""

import math

import jax
import numpy as np
import pytest

from cosearch import data
from cosearch.child.train import Trainer
from cosearch.hardware.architecture import Architecture
from cosearch.policy import predictor as predictor_lib
from cosearch.policy import reinforce
from cosearch.policy import signal as signal_lib
from cosearch.policy.reward import RewardConfig, shrink_accuracy
from cosearch.policy.space import SearchSpace
from cosearch.policy.value_sets import ArchSpace
from cosearch.search import setup as search_setup
from cosearch.search.config_checks import SearchConfigError
from cosearch.search.episode import Context
from cosearch.search.strategies import run_episode
from tests.tiny_search import tiny

REWARD = RewardConfig(acc_lo=0.6, acc_hi=0.8, acc_noise=0.01)
SPACE = SearchSpace(ArchSpace(depth=2, kernels=(1, 3, 5), filters=(4, 8)))
ARCHS = [Architecture.parse(t) for t in ("1,4,1;1,4,1", "3,4,1;1,8,1", "5,8,1;3,8,1")]


@pytest.fixture(scope="module")
def synthetic():
    return data.load("synthetic", seed=0)


def _signal(name, synthetic, rho=0.8):
    return signal_lib.Signal(name, rho, SPACE, REWARD, synthetic, "gap", seed=0)


def test_names_are_checked():
    assert signal_lib.parse("predictor") == ()
    assert signal_lib.parse("deep_layers+receptive_field") == (
        "deep_layers",
        "receptive_field",
    )
    with pytest.raises(ValueError, match="unknown training-free score"):
        signal_lib.parse("deep_layers+nosuch")


def test_a_score_becomes_a_conditional_mean(synthetic):
    """expected = m + rho s z: with under 3 children measured, m is the
    reward's midpoint (or their mean) and s a quarter of its accuracy range;
    from 3 on, their mean and their spread less the proxy's noise."""
    sig = _signal("deep_layers", synthetic)
    std = sig.standardisation()
    # deep_layers of the three: 0, 1, 2 layers with a kernel >= 3.
    z = (np.array([0.0, 1.0, 2.0]) - std.mean[0]) / std.std[0]
    prepared = sig.prepare(ARCHS, {}, synthetic.input_shape)
    np.testing.assert_allclose(prepared, z)
    np.testing.assert_allclose(sig.expect(prepared, []), 0.7 + 0.8 * 0.05 * z)
    np.testing.assert_allclose(sig.expect(prepared, [0.66]), 0.66 + 0.8 * 0.05 * z)
    measured = [0.70, 0.74, 0.72]
    spread = math.sqrt(np.var(measured, ddof=1) - 0.01**2)  # 0.02 -> 0.01732
    np.testing.assert_allclose(
        sig.expect(prepared, measured), 0.72 + 0.8 * spread * z, rtol=1e-12
    )
    # A deeper-kernelled network is expected to be more accurate; NaN stays.
    assert np.all(np.diff(sig.expect(prepared, measured)) > 0)
    assert np.isnan(sig.expect(np.array([np.nan]), measured)[0])


def test_the_standardisation_is_fixed_by_the_seed(synthetic):
    """Over a uniform sample of the space, drawn once per seed: the sample's
    z has mean 0 and unit spread, whatever proposals are scored later."""
    a, b = _signal("receptive_field", synthetic), _signal("receptive_field", synthetic)
    b.prepare(ARCHS, {}, synthetic.input_shape)  # scoring first changes nothing
    np.testing.assert_array_equal(a.standardisation().mean, b.standardisation().mean)
    np.testing.assert_array_equal(a.standardisation().std, b.standardisation().std)
    s = a.standardisation()
    assert s.std[0] > 0 and 1.0 <= s.mean[0] <= 9.0  # receptive fields 1..9


def test_the_predictor_signal_is_the_shrunk_prediction(synthetic):
    sig = _signal("predictor", synthetic)
    measured = {str(a): acc for a, acc in zip(ARCHS, (0.7, 0.72, 0.75), strict=True)}
    prepared = sig.prepare(ARCHS, measured, synthetic.input_shape)
    fitted = predictor_lib.fit(measured, synthetic.input_shape, prior=0.7)
    np.testing.assert_array_equal(prepared, fitted.predict(ARCHS))
    values = list(measured.values())
    np.testing.assert_array_equal(
        sig.expect(prepared, values), shrink_accuracy(prepared, values, 0.01)
    )


def test_coexplore_trains_and_records_by_the_signal():
    """With a structural signal and no child measured, the survivor trained
    is the one of highest expected reward, and the records carry the
    scores and expectations of the survivors."""
    setup = search_setup.build(
        tiny(**{"search.accuracy_signal": "deep_layers", "reward.alpha": 1.0})
    )
    ctx = Context(setup, Trainer(), {}, log=lambda _: None)
    state = reinforce.init(setup.reinforce_config, setup.controller, jax.random.key(0))
    out = run_episode(ctx, state.params, jax.random.key(4), 0, budget=1)
    alive = [r for r in out.records if r["status"] != "pruned"]
    assert alive and out.trained == 1
    deep = {r["architecture"]: r["training_free"]["deep_layers"] for r in alive}
    trained = [r for r in alive if r["status"] in ("trained", "failed")]
    assert deep[trained[0]["architecture"]] == max(deep.values())
    for r in alive:
        assert r["predicted_accuracy"] is not None
    for r in out.records:
        if r["status"] == "pruned":
            assert "training_free" not in r and r["predicted_accuracy"] is None


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("search.accuracy_signal", "nosuch", "config.search.accuracy_signal: "),
        ("search.signal_rho", 1.5, "config.search.signal_rho: must be in"),
        ("search.signal_rho", -0.1, "config.search.signal_rho: must be in"),
        ("reward.mode", "fast", "config.reward: reward mode 'fast'"),
    ],
)
def test_bad_signal_and_reward_settings_are_refused(field, value, match):
    with pytest.raises(SearchConfigError, match=match) as err:
        search_setup.build(tiny(**{field: value}))
    assert "\n" not in str(err.value)


def test_non_finite_scores_count_as_no_information():
    """NASWOT's log det of a singular kernel is -inf: it is left out of the
    standardisation and its z is 0 (the expectation is the mean)."""
    std = signal_lib.Standardisation(("naswot",), np.array([2.0]), np.array([0.5]))
    z = std.z({"naswot": np.array([3.0, -np.inf, np.nan])})
    np.testing.assert_array_equal(z, [2.0, 0.0, 0.0])


def test_network_scores_need_odd_kernels_but_the_predictor_does_not():
    even = {"space.kernels": (2, 3)}
    with pytest.raises(SearchConfigError, match="synflow need odd kernels"):
        search_setup.build(tiny(**even, **{"search.accuracy_signal": "synflow"}))
    search_setup.build(tiny(**even, **{"search.accuracy_signal": "deep_layers"}))
    setup = search_setup.build(tiny(**even, **{"search.accuracy_signal": "predictor"}))
    ctx = Context(setup, Trainer(), {}, log=lambda _: None)
    assert ctx.accuracy_signal().names == ()  # no scorer is made
