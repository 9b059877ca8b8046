"""Episodes of the strategies: the policy learns from the fast level alone,
random search has a key stream of its own."""

import dataclasses

import jax
import numpy as np
import pytest

from cosearch.child.train import Trainer
from cosearch.policy import reinforce
from cosearch.search import reachability
from cosearch.search import setup as search_setup
from cosearch.search.episode import Context
from cosearch.search.strategies import STRATEGIES, prepare, run_episode
from experiments.configs import default
from tests.tiny_search import tiny


def _context(**overrides):
    setup = search_setup.build(tiny(**overrides))
    return setup, Context(setup, Trainer(), {}, log=lambda _: None)


def test_feasibility_is_learned_without_collapse():
    """A known answer on the default space and spec: about 70% of uniform
    proposals cannot reach 1000 images/s on mixed4. With no child trained
    (budget 0: every reward comes from the fast level and the predictor's
    prior) the pruned share of the last 5 of 20 episodes is at most half
    that of the first 5, at a fixed seed; the policy does not collapse onto
    a few small networks: most of the architecture tokens' entropy remains
    and the proposals stay distinct."""
    setup = search_setup.build(default.get_config())
    ctx = Context(setup, Trainer(), {}, log=lambda _: None)
    state = reinforce.init(setup.reinforce_config, setup.controller, jax.random.key(0))
    shares, arch_entropy = [], []
    for e in range(20):
        key = jax.random.fold_in(jax.random.key(1), e)
        out = run_episode(ctx, state.params, key, e, budget=0)
        assert out.trained == 0 and not ctx.cache  # nothing was trained
        state, _ = reinforce.update(state, out.actions, out.rewards)
        shares.append(np.mean([r["status"] == "pruned" for r in out.records]))
        arch_entropy.append(out.arch_entropy)
    first, last = np.mean(shares[:5]), np.mean(shares[-5:])
    assert first > 0.5, shares
    assert last <= 0.5 * first, shares
    assert arch_entropy[-1] >= 0.5 * arch_entropy[0], arch_entropy
    names = {r["architecture"] for r in out.records}
    assert len(names) >= 0.9 * len(out.records)


def test_random_does_not_share_coexplore_proposals():
    """The untrained controller is near uniform; random search still draws
    its proposals from a stream of its own, not from the same uniforms."""
    setup, ctx = _context(**{"search.candidates_per_episode": 16})
    state = reinforce.init(setup.reinforce_config, setup.controller, jax.random.key(0))
    key = jax.random.key(7)
    co = run_episode(ctx, state.params, key, 0, budget=0)
    rand_setup, rand_ctx = _context(
        **{"search.candidates_per_episode": 16, "strategy": "random"}
    )
    ra = run_episode(rand_ctx, state.params, key, 0, budget=0)
    same = [
        a["architecture"] == b["architecture"]
        for a, b in zip(co.records, ra.records, strict=True)
    ]
    assert sum(same) <= 2
    assert ra.actions is None  # random never updates a controller


class _Unreadable:
    """Stands for what an episode must not read: any access fails."""

    def __init__(self, what: str):
        self._what = what

    def __getattr__(self, name):
        raise AssertionError(f"an episode read {self._what}.{name}")

    def __getitem__(self, key):
        raise AssertionError(f"an episode read {self._what}[{key!r}]")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_episodes_read_the_typed_settings_only(strategy):
    """A strategy's episode (and hw_aware's fixed design) reads the typed
    settings of Setup, never the raw config, and no other strategy reads
    hw_aware's settings (the config fields its table entry names)."""
    setup = search_setup.build(tiny(strategy=strategy))
    own = setup.hw_aware if strategy == "hw_aware" else _Unreadable("hw_aware")
    blind = dataclasses.replace(
        setup, config_json=_Unreadable("config_json"), hw_aware=own
    )
    reachability.check_specs_reachable(blind)
    fixed = prepare(blind)
    ctx = Context(blind, Trainer(), {}, fixed_design=fixed, log=lambda _: None)
    state = reinforce.init(blind.reinforce_config, blind.controller, jax.random.key(0))
    out = run_episode(ctx, state.params, jax.random.key(3), 0, budget=0)
    assert len(out.records) == 3 and out.trained == 0


def test_an_unknown_strategy_is_refused():
    """In the config (one line, before anything is built) and at dispatch
    (no strategy silently stands in for another)."""
    with pytest.raises(search_setup.SearchConfigError, match="config.strategy"):
        search_setup.build(tiny(strategy="nosuch"))
    setup, ctx = _context()
    odd = Context(dataclasses.replace(setup, strategy="nosuch"), ctx.trainer, {})
    with pytest.raises(search_setup.SearchConfigError, match="unknown strategy"):
        run_episode(odd, None, jax.random.key(0), 0)


def test_random_screen_trains_by_the_signal_and_updates_nothing():
    """random's proposals (the same key stream), its survivors ranked by the
    accuracy signal: the one trained has the best signal; no actions for a
    controller update."""
    overrides = {"search.accuracy_signal": "deep_layers", "reward.alpha": 1.0}
    _, ctx = _context(strategy="random_screen", **overrides)
    _, plain_ctx = _context(strategy="random", **overrides)
    # The first episode key whose proposals have two survivors or more.
    for seed in range(50):
        key = jax.random.key(seed)
        base = run_episode(plain_ctx, None, key, 0, budget=0)
        if sum(r["status"] != "pruned" for r in base.records) >= 2:
            break
    out = run_episode(ctx, None, key, 0, budget=1)
    assert out.actions is None and out.trained == 1
    # Same proposals as random's.
    assert [r["architecture"] for r in out.records] == [
        r["architecture"] for r in base.records
    ]
    alive = [r for r in out.records if r["status"] != "pruned"]
    deep = {r["architecture"]: r["training_free"]["deep_layers"] for r in alive}
    (trained,) = [r for r in alive if r["status"] in ("trained", "failed")]
    assert deep[trained["architecture"]] == max(deep.values())
