"""The controller: an LSTM policy that samples token sequences of a search space.

As in Zoph & Le's NAS controller, the LSTM makes one decision per step, each
with its own softmax head, and the embedding of the token chosen at step t is
the input of step t+1 (a learned start vector feeds step 0). Logits are
divided by a temperature and then optionally squashed, as in ENAS:
``tanh_c * tanh(logits / temperature)``, which keeps the policy from
collapsing early. Invalid choices (:func:`cosearch.policy.masks.token_mask`) get -inf
logits; a forced step (one allowed choice) has log-probability 0.

:class:`Controller` is a Linen module that holds the parameters and computes
one step; :func:`sample` and :func:`log_prob` run all ``T`` steps as one
``lax.scan`` under ``jit`` (the module is static: equal controllers share the
compiled program).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from cosearch.policy.masks import (
    MaskState,
    advance_mask_state,
    initial_mask_state,
    token_mask,
)
from cosearch.policy.space import SearchSpace


class Sample(NamedTuple):
    """A batch of sampled sequences.

    Attributes:
      tokens: ``[B, T]`` int32 chosen token per step.
      log_probs: ``[B, T]`` float32 log-probability of each chosen token (0 for
        a forced padding token).
      entropy: ``[B, T]`` float32 entropy of each step's masked distribution,
        nats.
    """

    tokens: jax.Array
    log_probs: jax.Array
    entropy: jax.Array


def _symmetric_uniform(scale: float):
    """Initializer drawing from U(-scale, scale), as in Zoph & Le / ENAS."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -scale, scale)

    return init


class Controller(nn.Module):
    """LSTM policy over the tokens of ``space`` (one step per call).

    Attributes:
      space: the search space (its layout fixes T steps of V choices).
      hidden: LSTM hidden size (Zoph & Le's co-exploration controller: 35).
      embed: token embedding size; None means ``hidden``.
      temperature: logits are divided by it (> 0).
      tanh_c: if set, logits become ``tanh_c * tanh(logits / temperature)``.
      init_scale: parameters start in U(-init_scale, init_scale) (head bias 0),
        so the first policy is close to uniform.
    """

    space: SearchSpace
    hidden: int = 35
    embed: int | None = None
    temperature: float = 1.0
    tanh_c: float | None = None
    init_scale: float = 0.1

    def setup(self):
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.tanh_c is not None and self.tanh_c <= 0:
            raise ValueError(f"tanh_c must be positive or None, got {self.tanh_c}")
        t, v = self.space.num_tokens, self.space.max_choices
        e = self.embed or self.hidden
        init = _symmetric_uniform(self.init_scale)
        self.cell = nn.OptimizedLSTMCell(
            self.hidden, kernel_init=init, recurrent_kernel_init=init
        )
        self.start = self.param("start", init, (e,))
        self.embedding = self.param("embedding", init, (t, v, e))  # [T, V, E]
        self.head_kernel = self.param("head_kernel", init, (t, self.hidden, v))
        self.head_bias = self.param("head_bias", nn.initializers.zeros, (t, v))

    def __call__(self, carry, prev_token, t):
        """One step of the LSTM.

        Args:
          carry: LSTM state (c, h), each ``[B, H]``.
          prev_token: ``[B]`` int token chosen at step ``t - 1`` (ignored at
            ``t == 0``).
          t: ``[]`` int step index (may be traced).

        Returns:
          (new carry, ``[B, V]`` float32 logits before masking).
        """
        prev = jnp.maximum(t - 1, 0)
        x_prev = jnp.take(self.embedding[prev], prev_token, axis=0)  # [B, E]
        x = jnp.where(t == 0, self.start[None, :], x_prev)
        carry, h = self.cell(carry, x)
        logits = h @ self.head_kernel[t] + self.head_bias[t]
        logits = logits / self.temperature
        if self.tanh_c is not None:
            logits = self.tanh_c * jnp.tanh(logits)
        return carry, logits

    def initial_carry(self, batch: int):
        """Zero LSTM state (c, h), each ``[batch, H]`` float32."""
        z = jnp.zeros((batch, self.hidden), jnp.float32)
        return (z, z)


@functools.partial(jax.jit, static_argnums=0)
def init_params(controller: Controller, key: jax.Array) -> Any:
    """Fresh parameters: weights ~ U(-init_scale, init_scale), biases 0.

    The distribution the module's initializers declare, drawn in one go: a
    separate draw per parameter makes the compile many times slower on CPU.

    Args:
      controller: the policy (static).
      key: PRNG key, consumed.

    Returns:
      The variables ``{"params": ...}`` for ``controller.apply``.
    """
    args = (controller.initial_carry(1), jnp.zeros((1,), jnp.int32), jnp.int32(0))
    shapes = jax.eval_shape(controller.init, key, *args)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
    sizes = [leaf.size for _, leaf in leaves]
    s = controller.init_scale
    flat = jax.random.uniform(key, (sum(sizes),), jnp.float32, -s, s)
    out, offset = [], 0
    for (path, leaf), size in zip(leaves, sizes, strict=True):
        if "bias" in str(path[-1]):
            out.append(jnp.zeros(leaf.shape, leaf.dtype))
        else:
            out.append(flat[offset : offset + size].reshape(leaf.shape))
            offset += size
    return jax.tree_util.tree_unflatten(treedef, out)


def _policy_step(controller, params, carry, mstate: MaskState, prev, t):
    """Masked log-probabilities ``[B, V]`` (-inf where forbidden) at step t."""
    carry, logits = controller.apply(params, carry, prev, t)
    mask = token_mask(controller.space, t, mstate)
    logp = jax.nn.log_softmax(jnp.where(mask, logits, -jnp.inf), axis=-1)
    # Entropy over allowed choices only: 0 * -inf would be NaN.
    entropy = -jnp.sum(jnp.exp(logp) * jnp.where(mask, logp, 0.0), axis=-1)
    return carry, logp, entropy


def _gumbel(key, shape):
    """Standard Gumbel noise of ``shape``, float32 (``key`` consumed).

    Drawn flat and reshaped: on CPU, XLA compiles a multi-dimensional
    threefry draw several times slower.
    """
    tiny = jnp.finfo(jnp.float32).tiny
    u = jax.random.uniform(key, (math.prod(shape),), jnp.float32, tiny, 1.0)
    return -jnp.log(-jnp.log(u)).reshape(shape)


def _pick(logp, token):
    return jnp.take_along_axis(logp, token[:, None], axis=1)[:, 0]


@functools.partial(jax.jit, static_argnames=("controller", "batch"))
def sample(controller: Controller, params: Any, key: jax.Array, batch: int) -> Sample:
    """Samples ``batch`` sequences autoregressively (one ``lax.scan``).

    Args:
      controller: the policy (static).
      params: its parameters.
      key: PRNG key, consumed.
      batch: B, number of sequences (static).

    Returns:
      A :class:`Sample` with ``[B, T]`` fields; every sequence is valid under
      the space's masks.
    """
    t_len, v = controller.space.num_tokens, controller.space.max_choices
    # Gumbel-max sampling, the noise of all steps drawn at once.
    gumbel = _gumbel(key, (t_len, batch, v))

    def body(state, xs):
        carry, mstate, prev = state
        t, g = xs
        carry, logp, ent = _policy_step(controller, params, carry, mstate, prev, t)
        tok = jnp.argmax(logp + g, axis=-1).astype(jnp.int32)
        mstate = advance_mask_state(controller.space, t, mstate, tok)
        return (carry, mstate, tok), (tok, _pick(logp, tok), ent)

    init = (
        controller.initial_carry(batch),
        initial_mask_state(batch),
        jnp.zeros((batch,), jnp.int32),
    )
    _, (tok, lp, ent) = jax.lax.scan(body, init, (jnp.arange(t_len), gumbel))
    return Sample(tokens=tok.T, log_probs=lp.T, entropy=ent.T)


@functools.partial(jax.jit, static_argnames=("controller",))
def log_prob(controller: Controller, params: Any, tokens: jax.Array):
    """Log-probabilities of given sequences under the policy (teacher forcing).

    Used for the actions the fast exploration refined: the masks follow the
    given tokens, so a token the masks forbid gets -inf.

    Args:
      controller: the policy (static).
      params: its parameters.
      tokens: ``[B, T]`` int tokens.

    Returns:
      (log_probs ``[B, T]`` float32, entropy ``[B, T]`` float32 nats), as
      :func:`sample` would have returned for these tokens.
    """
    tokens = jnp.asarray(tokens, jnp.int32)
    batch, t_len = tokens.shape
    if t_len != controller.space.num_tokens:
        raise ValueError(
            f"expected tokens [B, {controller.space.num_tokens}], got {tokens.shape}"
        )

    def body(state, xs):
        carry, mstate, prev = state
        t, tok = xs
        carry, logp, ent = _policy_step(controller, params, carry, mstate, prev, t)
        mstate = advance_mask_state(controller.space, t, mstate, tok)
        return (carry, mstate, tok), (_pick(logp, tok), ent)

    init = (
        controller.initial_carry(batch),
        initial_mask_state(batch),
        jnp.zeros((batch,), jnp.int32),
    )
    _, (lp, ent) = jax.lax.scan(body, init, (jnp.arange(t_len), tokens.T))
    return lp.T, ent.T
