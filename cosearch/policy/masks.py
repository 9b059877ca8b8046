"""Validity masks of a search space's tokens, and uniform sampling
(docs/design.md section 1.2).

Every step has one padded axis of ``V = max_choices`` choices; a static
per-step valid count plus dynamic masks (:func:`token_mask`) forbid invalid
choices given the earlier tokens (a second use of an FPGA, a cut the stage
count does not allow). The masks are pure ``jax.numpy`` over a small carried
:class:`MaskState`, so the controller evaluates them inside ``lax.scan``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from cosearch.policy.space import (
    KIND_CUT,
    KIND_DEVICE,
    KIND_STAGES,
    KIND_TILING,
    SearchSpace,
)


@struct.dataclass
class MaskState:
    """What the masks need to know of the tokens so far.

    Attributes:
      num_stages: ``[B]`` int32 chosen stage count (0 before it is chosen).
      num_cuts: ``[B]`` int32 cut tokens equal to 1 so far.
      used: ``[B]`` int32 bitmask of pool slots already given a stage.
    """

    num_stages: Any
    num_cuts: Any
    used: Any


def initial_mask_state(batch: int) -> MaskState:
    """The state before the first token, for a batch of ``batch`` sequences."""
    zero = jnp.zeros((batch,), jnp.int32)
    return MaskState(num_stages=zero, num_cuts=zero, used=zero)


def _step(space: SearchSpace, t):
    lay = space.layout
    kind = jnp.asarray(lay.kind)[t]
    slot = jnp.asarray(lay.slot)[t]
    layer = jnp.asarray(lay.layer)[t]
    n = jnp.asarray(lay.num_choices)[t]
    return kind, slot, layer, n


def _is_padding(kind, slot, state: MaskState):
    """``[B]`` True where step is in a stage slot beyond the number of stages."""
    hw = (kind == KIND_DEVICE) | (kind == KIND_TILING)
    return hw & (slot >= state.num_stages)


def token_mask(space: SearchSpace, t, state: MaskState):
    """Allowed choices at step ``t`` given the tokens so far.

    Args:
      space: the search space (static).
      t: ``[]`` int step index (may be traced).
      state: the :class:`MaskState` after steps ``0..t-1``.

    Returns:
      ``[B, V]`` bool. A forced step (padding slot, or a cut decided by the
      stage count) allows exactly one choice, so its log-probability is 0.
    """
    kind, slot, layer, n = _step(space, t)
    choice = jnp.arange(space.max_choices, dtype=jnp.int32)
    ok = (choice < n)[None, :]
    # Cut after `layer`: depth - 1 - layer boundaries remain, this one included.
    needed = (state.num_stages - 1 - state.num_cuts)[:, None]  # [B, 1]
    remaining = space.arch.depth - 1 - layer
    cut_ok = jnp.where(
        needed <= 0,
        choice[None, :] == 0,
        jnp.where(needed >= remaining, choice[None, :] == 1, True),
    )
    ok = ok & ((kind != KIND_CUT) | cut_ok)
    free = ((state.used[:, None] >> choice[None, :]) & 1) == 0
    ok = ok & ((kind != KIND_DEVICE) | free)
    pad = _is_padding(kind, slot, state)
    return jnp.where(pad[:, None], (choice == 0)[None, :], ok)


def advance_mask_state(space: SearchSpace, t, state: MaskState, token) -> MaskState:
    """The state after choosing ``token`` (``[B]`` int) at step ``t``."""
    kind, slot, _, _ = _step(space, t)
    token = token.astype(jnp.int32)
    pad = _is_padding(kind, slot, state)
    num_stages = jnp.where(kind == KIND_STAGES, token + 1, state.num_stages)
    num_cuts = state.num_cuts + jnp.where(kind == KIND_CUT, token, 0)
    real_device = (kind == KIND_DEVICE) & ~pad
    used = state.used | jnp.where(real_device, jnp.left_shift(1, token), 0)
    return MaskState(num_stages=num_stages, num_cuts=num_cuts, used=used)


@functools.partial(jax.jit, static_argnames=("space", "batch"))
def uniform_sample(space: SearchSpace, key, batch: int):
    """Random candidates for random search: tokens ``[B, T]`` int32.

    Each token is uniform among the choices allowed at its step, except the
    cut tokens: a cut is made with probability (cuts still needed) /
    (boundaries left), so that for the drawn stage count every placement of
    the cuts is equally likely (uniform per-step cut bits would favour short
    first stages).

    Args:
      space: the search space (static).
      key: PRNG key, consumed.
      batch: B, number of sequences.
    """
    t_len, v = space.num_tokens, space.max_choices
    # The argmax of i.i.d. uniforms over the allowed choices is uniform among
    # them. Drawn flat: a multi-dimensional draw compiles slower on CPU.
    noise = jax.random.uniform(key, (t_len * batch * v,)).reshape(t_len, batch, v)

    def body(state, xs):
        t, u = xs
        mask = token_mask(space, t, state)
        tok = jnp.argmax(jnp.where(mask, u, -1.0), axis=-1).astype(jnp.int32)
        kind, _, layer, _ = _step(space, t)
        needed = state.num_stages - 1 - state.num_cuts
        left = jnp.maximum(space.arch.depth - 1 - layer, 1)
        cut = (u[:, 0] < needed / left).astype(jnp.int32)
        tok = jnp.where(kind == KIND_CUT, cut, tok)
        return advance_mask_state(space, t, state, tok), tok

    _, tokens = jax.lax.scan(
        body, initial_mask_state(batch), (jnp.arange(t_len), noise)
    )
    return tokens.T
