"""REINFORCE for the controller, with a moving-average baseline (docs/design.md 1).

One update on a batch of token sequences ``[B, T]`` and their rewards ``[B]``:

    A    = R - b                              advantage, b = baseline so far
    loss = -mean_B(A * sum_T log pi(token))  - entropy_coef * mean_B(sum_T H)

(the policy-gradient term and the baseline average over the sequences with
a finite reward: a NaN reward leaves its sequence out of them; the entropy
bonus averages over every sequence.)
    b   <- decay * b + (1 - decay) * mean_B(R)

The baseline is an exponential moving average, so the most recent rewards
weigh most; the first batch sets it to that batch's mean (and is its own
baseline). Gradients are clipped by global norm, then Adam (default) or SGD.
The log-probabilities are recomputed from the tokens
(:func:`cosearch.policy.controller.log_prob`), so the tokens may be actions the fast
exploration refined rather than the ones sampled.

:class:`ReinforceState` carries the controller and the config as static
fields, so :func:`update` is a plain jitted function of the state: it compiles
once per batch shape.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from cosearch.policy.controller import Controller, init_params, log_prob

OPTIMIZERS = ("adam", "sgd")


@dataclasses.dataclass(frozen=True)
class ReinforceConfig:
    """Hyperparameters of the controller's REINFORCE updates.

    Attributes:
      learning_rate: step size of the optimizer.
      entropy_coef: weight of the entropy bonus (nats per sequence).
      baseline_decay: EMA decay of the baseline, in [0, 1); 0 means the
        previous batch's mean.
      grad_clip: global-norm bound on the gradient; None for no clipping.
      optimizer: 'adam' or 'sgd'.
    """

    learning_rate: float = 3.5e-4
    entropy_coef: float = 1e-4
    baseline_decay: float = 0.95
    grad_clip: float | None = 5.0
    optimizer: str = "adam"

    def __post_init__(self):
        if not self.learning_rate > 0:
            raise ValueError(
                f"learning_rate must be positive, got {self.learning_rate}"
            )
        if not self.entropy_coef >= 0:
            raise ValueError(f"entropy_coef must be >= 0, got {self.entropy_coef}")
        if not 0 <= self.baseline_decay < 1:
            raise ValueError(
                f"baseline_decay must be in [0, 1), got {self.baseline_decay}"
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(
                f"grad_clip must be positive or None, got {self.grad_clip}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"
            )


def make_optimizer(config: ReinforceConfig) -> optax.GradientTransformation:
    """Global-norm clipping (if set), then Adam or SGD at the learning rate."""
    base = {"adam": optax.adam, "sgd": optax.sgd}[config.optimizer]
    parts = (
        []
        if config.grad_clip is None
        else [optax.clip_by_global_norm(config.grad_clip)]
    )
    return optax.chain(*parts, base(config.learning_rate))


@struct.dataclass
class ReinforceState:
    """Controller training state.

    Attributes:
      params: the controller's parameters.
      opt_state: the optimizer's state.
      baseline: ``[]`` float32 moving-average reward.
      step: ``[]`` int32 updates done.
      controller: the policy (static).
      config: the hyperparameters (static).
    """

    params: Any
    opt_state: Any
    baseline: jax.Array
    step: jax.Array
    controller: Controller = struct.field(pytree_node=False)
    config: ReinforceConfig = struct.field(pytree_node=False)


def init(
    config: ReinforceConfig, controller: Controller, key: jax.Array
) -> ReinforceState:
    """Fresh parameters and optimizer state (``key`` is consumed)."""
    params = init_params(controller, key)
    return ReinforceState(
        params=params,
        opt_state=make_optimizer(config).init(params),
        baseline=jnp.zeros((), jnp.float32),
        step=jnp.zeros((), jnp.int32),
        controller=controller,
        config=config,
    )


@jax.jit
def update(
    state: ReinforceState, tokens: jax.Array, rewards: jax.Array
) -> tuple[ReinforceState, dict[str, jax.Array]]:
    """One REINFORCE step on the actions taken and their rewards.

    Args:
      state: the current state.
      tokens: ``[B, T]`` int actions taken (valid under the space's masks).
      rewards: ``[B]`` float rewards (docs/design.md section 5); NaN marks a
        sequence without a reward, left out of the loss and the baseline
        (at least one must be finite).

    Returns:
      (new state, metrics): scalars ``loss``, ``reward_mean``, ``reward_max``,
      ``baseline`` (after the update), ``advantage_mean``, ``log_prob_mean``
      (per sequence), ``entropy`` (per sequence, nats), ``grad_norm``.
    """
    cfg, controller = state.config, state.controller
    rewards = jnp.asarray(rewards, jnp.float32)
    valid = jnp.isfinite(rewards)  # [B]; NaN: no reward, left out
    count = jnp.maximum(valid.sum(), 1)
    rewards = jnp.where(valid, rewards, 0.0)
    reward_mean = rewards.sum() / count
    first = state.step == 0
    baseline = jnp.where(first, reward_mean, state.baseline)
    advantage = jnp.where(valid, rewards - baseline, 0.0)  # [B]

    def loss_fn(params):
        lp, ent = log_prob(controller, params, tokens)  # [B, T] each
        seq_lp, seq_ent = lp.sum(axis=1), ent.sum(axis=1)
        loss = -jnp.sum(advantage * seq_lp) / count - cfg.entropy_coef * seq_ent.mean()
        return loss, (seq_lp.mean(), seq_ent.mean())

    (loss, (lp_mean, ent_mean)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params
    )
    updates, opt_state = make_optimizer(cfg).update(
        grads, state.opt_state, state.params
    )
    params = optax.apply_updates(state.params, updates)
    decay = cfg.baseline_decay
    new_baseline = jnp.where(
        first, reward_mean, decay * state.baseline + (1 - decay) * reward_mean
    )
    new_state = state.replace(
        params=params,
        opt_state=opt_state,
        baseline=new_baseline.astype(jnp.float32),
        step=state.step + 1,
    )
    metrics = {
        "loss": loss,
        "reward_mean": reward_mean,
        "reward_max": jnp.where(valid, rewards, -jnp.inf).max(),
        "baseline": new_baseline,
        "advantage_mean": advantage.sum() / count,
        "log_prob_mean": lp_mean,
        "entropy": ent_mean,
        "grad_norm": optax.tree.norm(grads),
    }
    return new_state, metrics
