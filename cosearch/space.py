"""Search space: value sets, the token layout, encode/decode and validity masks.

A candidate is a fixed-length token sequence ``[T]`` (docs/design.md sections 1-3):

* architecture tokens, per layer: kernel, filters and (only when the stride
  set has more than one value) stride;
* hardware tokens: the number of stages m (``1..min(pool_size, depth)``),
  then one binary "cut after layer i" token per layer boundary (``depth - 1``
  of them), masked so that exactly ``m - 1`` are cuts (a cut token is forced
  once the cuts are all placed or every remaining boundary must cut); then,
  for each of the ``pool_size`` stage slots, a device token (index into the
  platform's pool) and the 7 tiling tokens (tm, tn, tr, tc, wp, ip, op).
  Slots beyond m are padding, forced to token 0. Tk is not a token: decode
  sets it to the largest kernel of the stage's layers.

Choosing m first keeps the first, near-uniform policy spread over all stage
counts (independent cut bits would almost always fill the pool). A forced
token has log-probability 0.

Every step has one padded axis of ``V = max_choices`` choices; a static
per-step valid count plus dynamic masks (:func:`token_mask`) forbid invalid
choices given the earlier tokens (a second use of an FPGA, a cut the stage
count does not allow). The masks are pure ``jax.numpy`` over a small carried
:class:`MaskState`, so the controller evaluates them inside ``lax.scan``.

An architecture-only space (``hardware=None``, see
:meth:`SearchSpace.architecture_only`) holds just the architecture tokens,
for strategies that fix the hardware (hw_aware).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from cosearch.hardware.architecture import (
    ArchArrays,
    Architecture,
    ConvSpec,
)
from cosearch.hardware.design import (
    Design,
    DesignArrays,
    designs_from_arrays,
)

__all__ = [
    "ArchSpace",
    "HardwareSpace",
    "KIND_ARCH",
    "KIND_CUT",
    "KIND_DEVICE",
    "KIND_STAGES",
    "KIND_TILING",
    "MaskState",
    "SearchSpace",
    "TILING_TOKENS",
    "TokenLayout",
    "advance_mask_state",
    "initial_mask_state",
    "token_mask",
    "uniform_sample",
]

# Kind of decision made at a step.
KIND_ARCH, KIND_STAGES, KIND_CUT, KIND_DEVICE, KIND_TILING = 0, 1, 2, 3, 4

# Tiling parameters that are tokens, in token order (Tk is derived).
TILING_TOKENS = ("tm", "tn", "tr", "tc", "wp", "ip", "op")

# Largest pool: the masks keep the FPGAs in use as bits of an int32.
MAX_POOL = 31

# Default value sets. Tm x Tn spans a Zynq-7020 (220 DSP) up to a ZCU102
# (2520 DSP); Tr, Tc up to a 32x32 image; ports up to 32 words per cycle
# (16-bit words on a 512-bit port).
DEFAULT_TM = (4, 8, 16, 32, 64, 128)
DEFAULT_TN = (2, 4, 8, 16, 32, 64)
DEFAULT_TR = (1, 2, 4, 8, 16, 32)
DEFAULT_TC = (1, 2, 4, 8, 16, 32)
DEFAULT_PORT = (1, 2, 4, 8, 16, 32)


def _value_set(name: str, values: Sequence[int]) -> tuple[int, ...]:
    """Sorted, distinct positive ints; raises ValueError naming ``name``."""
    try:
        vals = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name}: expected a sequence of integers, got {values!r}"
        ) from None
    if not vals:
        raise ValueError(f"{name}: the value set is empty")
    if any(v < 1 for v in vals):
        raise ValueError(f"{name}: values must be positive, got {vals}")
    if len(set(vals)) != len(vals):
        raise ValueError(f"{name}: values repeat, got {vals}")
    return tuple(sorted(vals))


def _index(name: str, values: tuple[int, ...], value: int) -> int:
    try:
        return values.index(int(value))
    except ValueError:
        raise ValueError(
            f"{name}={value} is not in the search space's value set {values}"
        ) from None


@dataclasses.dataclass(frozen=True)
class ArchSpace:
    """Architecture value sets (docs/design.md section 2); values are kept sorted.

    Attributes:
      depth: number of conv layers (fixed per run).
      kernels: square kernel sizes.
      filters: output channels.
      strides: strides; ``(1,)`` is "fixed stride", ``(1, 2)`` "predictable
        stride". With one value no stride token is emitted.
    """

    depth: int
    kernels: tuple[int, ...] = (1, 3, 5, 7)
    filters: tuple[int, ...] = (24, 36, 48, 64)
    strides: tuple[int, ...] = (1,)

    def __post_init__(self):
        if isinstance(self.depth, bool) or int(self.depth) != self.depth:
            raise ValueError(f"depth must be an integer, got {self.depth!r}")
        if self.depth < 1:
            raise ValueError(f"depth must be at least 1, got {self.depth}")
        object.__setattr__(self, "depth", int(self.depth))
        for name in ("kernels", "filters", "strides"):
            object.__setattr__(self, name, _value_set(name, getattr(self, name)))

    @property
    def fields(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """(name, values) of each per-layer token, in token order."""
        out = (("kernel", self.kernels), ("filters", self.filters))
        if len(self.strides) > 1:
            out += (("stride", self.strides),)
        return out

    @property
    def num_tokens(self) -> int:
        return self.depth * len(self.fields)


@dataclasses.dataclass(frozen=True)
class HardwareSpace:
    """Hardware value sets (docs/design.md section 3); values are kept sorted.

    Use the union of the per-device design grids so that any design the
    optimizer refines can be encoded back to tokens.

    Attributes:
      pool_size: FPGAs in the platform's pool (= stage slots).
      tm, tn, tr, tc: tile sizes Tm, Tn, Tr, Tc.
      wp, ip, op: weight, input and output port widths, words per cycle.
    """

    pool_size: int
    tm: tuple[int, ...] = DEFAULT_TM
    tn: tuple[int, ...] = DEFAULT_TN
    tr: tuple[int, ...] = DEFAULT_TR
    tc: tuple[int, ...] = DEFAULT_TC
    wp: tuple[int, ...] = DEFAULT_PORT
    ip: tuple[int, ...] = DEFAULT_PORT
    op: tuple[int, ...] = DEFAULT_PORT

    def __post_init__(self):
        p = self.pool_size
        if isinstance(p, bool) or int(p) != p or not 1 <= p <= MAX_POOL:
            raise ValueError(
                f"pool_size must be an integer in 1..{MAX_POOL}, got {p!r}"
            )
        object.__setattr__(self, "pool_size", int(p))
        for name in TILING_TOKENS:
            object.__setattr__(self, name, _value_set(name, getattr(self, name)))

    def values(self, name: str) -> tuple[int, ...]:
        """The value set of tiling parameter ``name`` (one of TILING_TOKENS)."""
        return getattr(self, name)

    @classmethod
    def union(cls, grids: Sequence[Any]) -> HardwareSpace:
        """One slot per grid; each value set is the union over the grids.

        Args:
          grids: per pool slot, a record with ``tm, tn, tr, tc, wp, ip, op``
            value sequences (e.g. ``cosearch.hardware.grid.DeviceGrid``).
        """
        if not grids:
            raise ValueError("need at least one grid (one per pool slot)")
        values = {
            name: tuple(sorted({int(v) for g in grids for v in getattr(g, name)}))
            for name in TILING_TOKENS
        }
        return cls(len(grids), **values)


class TokenLayout(NamedTuple):
    """Static description of every step; numpy arrays of shape ``[T]``.

    Attributes:
      kind: KIND_ARCH, KIND_STAGES, KIND_CUT, KIND_DEVICE or KIND_TILING.
      num_choices: valid choices at the step (a prefix of the V choices).
      layer: layer of an architecture token, or the layer after which a cut
        token cuts; -1 otherwise.
      field: index into ``ArchSpace.fields`` (architecture) or TILING_TOKENS
        (tiling); -1 otherwise.
      slot: stage slot of a device or tiling token; -1 otherwise.
      values: ``[T, V]`` int32 value meant by each choice (padded with 0).
    """

    kind: np.ndarray
    num_choices: np.ndarray
    layer: np.ndarray
    field: np.ndarray
    slot: np.ndarray
    values: np.ndarray


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Architecture tokens, then hardware tokens (none if ``hardware`` is None).

    Attributes:
      arch: the architecture value sets.
      hardware: the hardware value sets, or None for an architecture-only
        space.
    """

    arch: ArchSpace
    hardware: HardwareSpace | None = None

    # ------------------------------------------------------------------ layout

    @property
    def arch_only(self) -> bool:
        return self.hardware is None

    def architecture_only(self) -> SearchSpace:
        """The same architecture tokens, without hardware tokens."""
        return SearchSpace(self.arch, None)

    @property
    def pool_size(self) -> int:
        """Stage slots (0 for an architecture-only space)."""
        return 0 if self.hardware is None else self.hardware.pool_size

    @property
    def num_arch_tokens(self) -> int:
        return self.arch.num_tokens

    @property
    def num_partition_tokens(self) -> int:
        """Stage-count token plus the cut tokens (0 for arch-only)."""
        return 0 if self.hardware is None else self.arch.depth

    @property
    def max_stages(self) -> int:
        """Largest stage count, min(pool_size, depth) (0 for arch-only)."""
        return min(self.pool_size, self.arch.depth)

    @property
    def num_tokens(self) -> int:
        """T, the fixed sequence length."""
        return (
            self.num_arch_tokens
            + self.num_partition_tokens
            + self.pool_size * (1 + len(TILING_TOKENS))
        )

    @property
    def max_choices(self) -> int:
        """V, the padded number of choices per step."""
        return int(self.layout.num_choices.max())

    def slot_position(self, slot: int) -> int:
        """Position of stage slot ``slot``'s device token (its tiling follows)."""
        return (
            self.num_arch_tokens
            + self.num_partition_tokens
            + slot * (1 + len(TILING_TOKENS))
        )

    @functools.cached_property
    def layout(self) -> TokenLayout:
        """The static :class:`TokenLayout` of this space."""
        rows = []  # (kind, values, layer, field, slot)
        for i in range(self.arch.depth):
            for f, (_, vals) in enumerate(self.arch.fields):
                rows.append((KIND_ARCH, vals, i, f, -1))
        if self.hardware is not None:
            hw = self.hardware
            rows.append((KIND_STAGES, tuple(range(1, self.max_stages + 1)), -1, -1, -1))
            for i in range(self.arch.depth - 1):
                rows.append((KIND_CUT, (0, 1), i, -1, -1))
            for s in range(hw.pool_size):
                rows.append((KIND_DEVICE, tuple(range(hw.pool_size)), -1, -1, s))
                for f, name in enumerate(TILING_TOKENS):
                    rows.append((KIND_TILING, hw.values(name), -1, f, s))
        v = max(len(r[1]) for r in rows)
        values = np.zeros((len(rows), v), np.int32)
        for t, r in enumerate(rows):
            values[t, : len(r[1])] = r[1]
        col = lambda j: np.array([r[j] for r in rows], np.int32)
        return TokenLayout(
            kind=col(0),
            num_choices=np.array([len(r[1]) for r in rows], np.int32),
            layer=col(2),
            field=col(3),
            slot=col(4),
            values=values,
        )

    def positions(self, kind: int, field: int = -1) -> np.ndarray:
        """Token positions of one kind (and field), in order; ``[n]`` int."""
        lay = self.layout
        sel = lay.kind == kind
        if field >= 0:
            sel &= lay.field == field
        return np.nonzero(sel)[0]

    # ------------------------------------------------------------ encode/decode

    def encode(self, arch: Architecture, design: Design | None = None) -> np.ndarray:
        """Tokens ``[T]`` int32 of a pair (``design`` None iff arch-only).

        Padding slots get token 0; the tilings' ``tk`` is ignored (derived on
        decode).

        Raises:
          ValueError: depth or design mismatch, or a value outside its set
            (the message names the parameter and the value).
        """
        if arch.depth != self.arch.depth:
            raise ValueError(
                f"architecture has {arch.depth} layers; the space has {self.arch.depth}"
            )
        tokens = np.zeros((self.num_tokens,), np.int32)
        t = 0
        for layer in arch.layers:
            if len(self.arch.fields) == 2:  # no stride token: check the value
                _index("stride", self.arch.strides, layer.stride)
            for name, vals in self.arch.fields:
                tokens[t] = _index(name, vals, getattr(layer, name))
                t += 1
        if self.hardware is None:
            if design is not None:
                raise ValueError("an architecture-only space encodes no design")
            return tokens
        if design is None:
            raise ValueError("this space needs a design to encode")
        design.validate(self.arch.depth, self.pool_size)
        tokens[t] = design.num_stages - 1
        for st in design.stages[:-1]:
            tokens[t + 1 + st.last] = 1
        for s, st in enumerate(design.stages):
            b = self.slot_position(s)
            tokens[b] = st.device
            for f, name in enumerate(TILING_TOKENS):
                value = getattr(st.tiling, name)
                tokens[b + 1 + f] = _index(name, self.hardware.values(name), value)
        return tokens

    def encode_batch(
        self,
        archs: Sequence[Architecture],
        designs: Sequence[Design] | None = None,
    ) -> np.ndarray:
        """Tokens ``[B, T]`` int32 of pairs (see :meth:`encode`)."""
        if designs is None:
            designs = [None] * len(archs)
        if len(designs) != len(archs):
            raise ValueError(f"{len(archs)} architectures but {len(designs)} designs")
        out = np.zeros((len(archs), self.num_tokens), np.int32)
        for i, (a, d) in enumerate(zip(archs, designs, strict=True)):
            out[i] = self.encode(a, d)
        return out

    def decode(self, tokens: Any) -> tuple[Architecture, Design | None]:
        """The pair meant by tokens ``[T]`` (design None for arch-only).

        Raises:
          ValueError: wrong length, a token outside its step's choices, cuts
            that disagree with the stage count, an FPGA used twice, or a
            padding slot whose tokens are not 0.
        """
        tok = np.asarray(tokens)
        if tok.shape != (self.num_tokens,):
            raise ValueError(
                f"expected {self.num_tokens} tokens, got shape {tok.shape}"
            )
        lay = self.layout
        bad = np.nonzero((tok < 0) | (tok >= lay.num_choices))[0]
        if bad.size:
            t = int(bad[0])
            raise ValueError(
                f"token {t} is {int(tok[t])}; step {t} has {lay.num_choices[t]} choices"
            )
        vals = lay.values[np.arange(self.num_tokens), tok]
        arch = self._arch_from_values(vals[None])[0]
        if self.hardware is None:
            return arch, None
        num_stages = int(tok[self.positions(KIND_STAGES)[0]]) + 1
        cuts = int(tok[self.positions(KIND_CUT)].sum())
        if cuts != num_stages - 1:
            raise ValueError(
                f"the stage-count token says {num_stages} stages but there are "
                f"{cuts} cuts"
            )
        for s in range(num_stages, self.pool_size):
            b = self.slot_position(s)
            pad = tok[b : b + 1 + len(TILING_TOKENS)]
            if pad.any():
                raise ValueError(
                    f"slot {s} is padding ({num_stages} stages) but its tokens "
                    f"are {pad.tolist()}, not all 0"
                )
        _, darr = self.to_arrays(tok[None], (1, 1, 1))
        design = designs_from_arrays(darr)[0]
        design.validate(self.arch.depth, self.pool_size)
        return arch, design

    def decode_batch(self, tokens: Any) -> list[tuple[Architecture, Design | None]]:
        """:meth:`decode` of each row of tokens ``[B, T]``."""
        return [self.decode(row) for row in np.asarray(tokens)]

    def _arch_from_values(self, vals: np.ndarray) -> list[Architecture]:
        per_layer = vals[:, : self.num_arch_tokens].reshape(
            len(vals), self.arch.depth, len(self.arch.fields)
        )
        out = []
        for row in per_layer:
            stride = (
                row[:, 2] if row.shape[1] == 3 else [self.arch.strides[0]] * len(row)
            )
            out.append(
                Architecture(
                    tuple(
                        ConvSpec(int(k), int(f), int(s))
                        for k, f, s in zip(row[:, 0], row[:, 1], stride, strict=True)
                    )
                )
            )
        return out

    def to_arrays(
        self, tokens: Any, input_shape: Sequence[int], xp=np
    ) -> tuple[ArchArrays, DesignArrays | None]:
        """Padded cost-model arrays of a batch of token sequences.

        Vectorised; with ``xp=jnp`` it traces under jit. Tokens are assumed
        valid (as sampled under the masks); use :meth:`decode` to check.

        Args:
          tokens: ``[B, T]`` int tokens.
          input_shape: (height, width, channels) of the input image.
          xp: ``np`` or ``jnp``.

        Returns:
          (ArchArrays with ``[B, L]`` fields, L = depth; DesignArrays with
          ``[B, S]`` fields, S = pool_size, tk = the largest kernel of each
          stage's layers; None for an architecture-only space).
        """
        lay = self.layout
        tok = xp.asarray(tokens).astype(xp.int32)
        if tok.ndim != 2 or tok.shape[1] != self.num_tokens:
            raise ValueError(
                f"expected tokens [B, {self.num_tokens}], got shape {tok.shape}"
            )
        b, depth = tok.shape[0], self.arch.depth
        vals = xp.take_along_axis(
            xp.asarray(lay.values)[None], tok[:, :, None], axis=2
        )[:, :, 0]
        pick = lambda kind, field=-1: vals[:, self.positions(kind, field)]
        kernel, filters = pick(KIND_ARCH, 0), pick(KIND_ARCH, 1)
        if len(self.arch.fields) == 3:
            stride = pick(KIND_ARCH, 2)
        else:
            stride = xp.full((b, depth), self.arch.strides[0], xp.int32)
        arch = ArchArrays(
            kernel=kernel,
            filters=filters,
            stride=stride,
            mask=xp.ones((b, depth), bool),
            input_hwc=xp.broadcast_to(xp.asarray(input_shape, xp.int32), (b, 3)),
        )
        if self.hardware is None:
            return arch, None
        s_max = self.pool_size
        cuts = pick(KIND_CUT)  # [B, D-1], 1 = cut after layer i
        num_stages = pick(KIND_STAGES)[:, 0].astype(xp.int32)
        ends = xp.where(cuts > 0, xp.arange(1, depth, dtype=xp.int32), depth)
        ends = xp.concatenate([ends, xp.full((b, s_max), depth, xp.int32)], axis=1)
        stage_end = xp.sort(ends, axis=1)[:, :s_max].astype(xp.int32)  # [B, S]
        real = xp.arange(s_max) < num_stages[:, None]  # [B, S]
        device = xp.where(real, pick(KIND_DEVICE), 0).astype(xp.int32)
        # Stage of each layer: number of stage ends at or before it.
        layer = xp.arange(depth)
        stage_of = (stage_end[:, None, :] <= layer[None, :, None]).sum(axis=2)
        in_stage = stage_of[:, None, :] == xp.arange(s_max)[None, :, None]  # [B,S,L]
        tk = xp.max(xp.where(in_stage, kernel[:, None, :], 1), axis=2)
        tiles = [pick(KIND_TILING, f).reshape(b, s_max) for f in range(4)]
        ports = [pick(KIND_TILING, f).reshape(b, s_max) for f in range(4, 7)]
        tiling = xp.stack([*tiles, tk, *ports], axis=2)  # order of Tiling fields
        tiling = xp.where(real[:, :, None], tiling, 1).astype(xp.int32)
        return arch, DesignArrays(
            num_stages=num_stages, stage_end=stage_end, device=device, tiling=tiling
        )


# --------------------------------------------------------------------- masks


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
