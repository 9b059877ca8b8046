"""Search space: the token layout of a candidate, encode and decode.

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

Every step has one padded axis of ``V = max_choices`` choices; which of
them are valid given the earlier tokens is :mod:`cosearch.policy.masks`'s.
The values a token indexes are :mod:`cosearch.policy.value_sets`'.

An architecture-only space (``hardware=None``, see
:meth:`SearchSpace.architecture_only`) holds just the architecture tokens,
for strategies that fix the hardware (hw_aware).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

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
from cosearch.policy.value_sets import (
    TILING_TOKENS,
    ArchSpace,
    HardwareSpace,
    index_of,
)

# Kind of decision made at a step.
KIND_ARCH, KIND_STAGES, KIND_CUT, KIND_DEVICE, KIND_TILING = 0, 1, 2, 3, 4


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
                index_of("stride", self.arch.strides, layer.stride)
            for name, vals in self.arch.fields:
                tokens[t] = index_of(name, vals, getattr(layer, name))
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
                tokens[b + 1 + f] = index_of(name, self.hardware.values(name), value)
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
