"""Episodes of the strategies: the policy learns from the fast level alone,
random search has a key stream of its own."""

import jax
import numpy as np

from cosearch import components, reinforce
from cosearch.strategies import Context, run_episode
from cosearch.train import Trainer
from tests.tiny_search import tiny


def _context(**overrides):
    setup = components.build(tiny(**overrides))
    return setup, Context(setup, Trainer(), {}, log=lambda _: None)


def test_feasibility_is_learned_from_cheap_updates():
    """Toy with a known answer: the spec prunes about two thirds of uniform
    proposals; with no child trained (budget 0: every reward comes from the
    fast level) the pruned share of the last 5 of 25 episodes is at most half
    that of the first 5, at a fixed seed."""
    setup, ctx = _context(
        **{
            "specs.min_fps": 60000.0,
            "reward.eff_hi": 300000.0,
            "search.candidates_per_episode": 32,
            "controller.learning_rate": 0.03,
        }
    )
    state = reinforce.init(setup.reinforce_config, setup.controller, jax.random.key(0))
    shares = []
    for e in range(25):
        key = jax.random.fold_in(jax.random.key(1), e)
        out = run_episode(ctx, state.params, key, e, budget=0)
        assert out.trained == 0 and not ctx.cache  # nothing was trained
        state, _ = reinforce.update(state, out.actions, out.rewards)
        shares.append(np.mean([r["status"] == "pruned" for r in out.records]))
    first, last = np.mean(shares[:5]), np.mean(shares[-5:])
    assert first > 0.4, shares
    assert last <= 0.5 * first, shares


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
