"""Training-free accuracy scores of child networks (docs/design.md section 7.5).

A score ranks architectures without training them: from the architecture
alone (*structural*), or from the child network at initialisation on a few
training images (*network*, "zero-cost" scores). :data:`SCORES` is the one
table of them; larger is better for every score.

Network scores, on the child of :mod:`cosearch.child.network` (Conv ->
ReLU -> BatchNorm per layer, then the head) at a fresh initialisation
(He-normal kernels, zero biases, LeCun-normal head):

- ``synflow`` (Tanaka et al., NeurIPS 2020, as a NAS score in Abdelfattah et
  al., ICLR 2021): BatchNorm left out, every weight replaced by its absolute
  value, one all-ones input; ``R`` = the sum of the logits;
  ``log sum_W |W * dR/dW|`` over the conv and head kernels;
- ``jacob_cov`` (Mellor et al., arXiv 2006.04647 v1): ``J`` = the gradient of
  the summed logits with respect to each of N input images (``[N, HWC]``);
  ``-sum_i (log(l_i + k) + 1 / (l_i + k))`` over the eigenvalues ``l`` of
  the correlation matrix of ``J``'s rows, ``k = 1e-5``. BatchNorm in
  inference mode at initialisation (moving mean 0, variance 1): with the
  batch's statistics this child's summed logits do not depend on the input
  at all (its last BatchNorm centres every channel over the batch before
  the head averages it), and ``J`` would be rounding noise;
- ``naswot`` (Mellor et al., ICML 2021): each image's binary code of every
  ReLU unit (active or not); ``K[i, j]`` = units where images i and j agree;
  ``log |det K|``;
- ``grad_norm`` (Abdelfattah et al.): the sum over conv and head kernels of
  the L2 norm of the cross-entropy gradient on the N images.

BatchNorm normalises with the batch's statistics, as in training, but for
jacob_cov. Structural
scores: ``log_params`` (the child's parameter count), ``log_macs``,
``receptive_field`` (pixels one output sees) and ``deep_layers`` (layers
with a kernel of 3 or more).

Batched (:class:`Scorer`): networks of one stride pattern are padded to the
space's largest kernel and channel count with masks, as in batched training
(:mod:`cosearch.child.padded`), so that one compiled program scores a chunk
of them under ``jax.vmap``; the masks make every padded weight and its
gradient exactly zero, so a padded network's scores are its own network's,
to float rounding. Only the training split is read.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cosearch.child import batches as child_batches
from cosearch.child.conv import conv2d
from cosearch.child.network import BN_EPSILON, count_params, pool_features
from cosearch.data import Dataset
from cosearch.hardware.architecture import Architecture
from cosearch.hardware.geometry import out_size

# jacob_cov's eigenvalue offset (Mellor et al.'s k).
JACOB_K = 1e-5


@dataclasses.dataclass(frozen=True)
class Score:
    """One training-free score.

    Attributes:
      kind: "network" (needs the network at initialisation and images) or
        "structural" (the architecture alone).
      structural: for a structural score, ``f(arch, input_shape, classes,
        head) -> float``.
      summary: one line.
    """

    kind: str
    summary: str
    structural: Callable[..., float] | None = None


SCORES: dict[str, Score] = {
    "synflow": Score("network", "log synaptic flow, |weights|, all-ones input"),
    "jacob_cov": Score("network", "input-Jacobian correlation over N images"),
    "naswot": Score("network", "log det of the ReLU-code agreement kernel"),
    "grad_norm": Score("network", "summed L2 norms of the loss gradient"),
    "log_params": Score(
        "structural",
        "log parameter count",
        lambda arch, shape, classes, head: math.log(
            count_params(arch, shape, classes, head)
        ),
    ),
    "log_macs": Score(
        "structural",
        "log MACs per image",
        lambda arch, shape, classes, head: math.log(arch.macs(shape)),
    ),
    "receptive_field": Score(
        "structural",
        "receptive field, pixels",
        lambda arch, shape, classes, head: float(arch.receptive_field()),
    ),
    "deep_layers": Score(
        "structural",
        "layers with a kernel of 3 or more",
        lambda arch, shape, classes, head: float(
            sum(k >= 3 for k, _, _ in arch.layers)
        ),
    ),
}
NETWORK_SCORES = tuple(n for n, s in SCORES.items() if s.kind == "network")


def check_names(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` as a tuple if every one is in :data:`SCORES`.

    Raises:
      ValueError: an unknown name, listing the known ones.
    """
    unknown = [n for n in names if n not in SCORES]
    if unknown or not names:
        raise ValueError(
            f"unknown training-free score(s) {unknown or names!r}; known: "
            + ", ".join(SCORES)
        )
    return tuple(names)


# ---------------------------------------------------------------- one network


def masks(arch: Architecture, in_channels: int, max_kernel: int, max_filters: int):
    """Per-layer masks of ``arch`` padded to ``max_kernel`` x ``max_filters``:
    a tuple of ``[Kmax, Kmax, Cin, Cmax]`` float32 kernel masks (1 on the
    child's centred taps, its input and output channels)."""
    out = []
    ci, cin_padded = in_channels, in_channels
    for k, f, _ in arch.layers:
        m = np.zeros((max_kernel, max_kernel, cin_padded, max_filters), np.float32)
        off = (max_kernel - k) // 2
        m[off : off + k, off : off + k, :ci, :f] = 1.0
        out.append(m)
        ci, cin_padded = f, max_filters
    return tuple(out)


def head_inputs(strides: Sequence[int], input_shape: Sequence[int], head: str) -> int:
    """Rows of the head's kernel per channel: positions of the last map
    (flatten) or 1 (gap)."""
    if head == "gap":
        return 1
    h, w = int(input_shape[0]), int(input_shape[1])
    for s in strides:
        h, w = out_size(h, s), out_size(w, s)
    return h * w


def init_params(
    key: jax.Array,
    layer_masks: Sequence[np.ndarray],
    positions: int,
    classes: int,
) -> dict[str, Any]:
    """Initial weights of one (padded) network (``key`` consumed): kernels
    He-normal over the child's own fan-in, head LeCun-normal over its own
    inputs, biases zero; zero wherever the masks are.

    Returns:
      ``{"kernels": [...], "biases": [...], "head": [P*Cmax, classes],
      "head_bias": [classes]}``.
    """
    keys = jax.random.split(key, len(layer_masks) + 1)
    kernels, biases = [], []
    for k, m in zip(keys[:-1], layer_masks, strict=True):
        m = jnp.asarray(m)
        fan_in = m[..., 0].sum()  # taps x real inputs (output 0 is real)
        std = jnp.sqrt(2.0 / fan_in)
        kernels.append(jax.random.normal(k, m.shape, jnp.float32) * std * m)
        biases.append(jnp.zeros((m.shape[-1],), jnp.float32))
    last = jnp.asarray(layer_masks[-1]).max(axis=(0, 1, 2))  # [Cmax] real outputs
    rows = jnp.tile(last, positions)  # [P * Cmax]
    std = jnp.sqrt(1.0 / (rows.sum()))
    head = jax.random.normal(keys[-1], (rows.shape[0], classes), jnp.float32)
    return {
        "kernels": kernels,
        "biases": biases,
        "head": head * std * rows[:, None],
        "head_bias": jnp.zeros((classes,), jnp.float32),
    }


def _forward(params, layer_masks, x, strides, head: str, batch_norm: str):
    """Logits ``[N, classes]`` and each layer's ReLU code ``[N, H W C]``
    (1.0 active, 0.0 not, 0.0 on padded channels).

    ``batch_norm``: "batch" (the batch's statistics, as in training),
    "init" (inference mode at initialisation: moving mean 0, variance 1)
    or "none" (left out)."""
    codes = []
    for w, b, m, s in zip(
        params["kernels"], params["biases"], layer_masks, strides, strict=True
    ):
        out_mask = m.max(axis=(0, 1, 2))  # [Cmax]
        pre = conv2d(x, w * m, s) + b * out_mask
        codes.append(((pre > 0) * out_mask).reshape(pre.shape[0], -1))
        x = jax.nn.relu(pre)
        if batch_norm == "batch":
            mean = x.mean(axis=(0, 1, 2))
            var = x.var(axis=(0, 1, 2))
            x = (x - mean) * jax.lax.rsqrt(var + BN_EPSILON) * out_mask
        elif batch_norm == "init":
            x = x * jax.lax.rsqrt(1.0 + BN_EPSILON)
    features = pool_features(x, head)
    return features @ params["head"] + params["head_bias"], codes


def _masked_units(layer_masks, x_shape, strides) -> list[jax.Array]:
    """Per layer, ``[H W C]`` 1.0 on the child's own ReLU units."""
    h, w = x_shape[1], x_shape[2]
    out = []
    for m, s in zip(layer_masks, strides, strict=True):
        h, w = out_size(h, s), out_size(w, s)
        out.append(jnp.tile(m.max(axis=(0, 1, 2)), h * w))
    return out


def network_scores(
    params: dict[str, Any],
    layer_masks: Sequence[jax.Array],
    images: jax.Array,
    labels: jax.Array,
    strides: tuple[int, ...],
    head: str,
    names: tuple[str, ...],
) -> dict[str, jax.Array]:
    """The network scores ``names`` of one (padded) network (traceable).

    Args:
      params: :func:`init_params`'s weights.
      layer_masks: :func:`masks` of the network (ones for an unpadded one).
      images: ``[N, H, W, C]`` training images.
      labels: ``[N]`` int32 their labels.
      strides: per layer (static).
      head: "gap" or "flatten" (static).
      names: scores to compute, of :data:`NETWORK_SCORES` (static).
    """
    out = {}
    if "synflow" in names:
        flat = jax.tree.map(jnp.abs, params)
        ones = jnp.ones((1, *images.shape[1:]), jnp.float32)

        def total(p):
            logits, _ = _forward(p, layer_masks, ones, strides, head, "none")
            return logits.sum()

        g = jax.grad(total)(flat)
        weights = [*flat["kernels"], flat["head"]]
        grads = [*g["kernels"], g["head"]]
        synflow = sum(
            jnp.sum(jnp.abs(w * gw)) for w, gw in zip(weights, grads, strict=True)
        )
        out["synflow"] = jnp.log(synflow)
    if "jacob_cov" in names:

        def summed(x):
            logits, _ = _forward(params, layer_masks, x, strides, head, "init")
            return logits.sum()

        jac = jax.grad(summed)(images).reshape(images.shape[0], -1)
        jac = jac - jac.mean(axis=1, keepdims=True)
        norm = jnp.sqrt((jac**2).sum(axis=1, keepdims=True))
        jac = jac / jnp.maximum(norm, jnp.finfo(jnp.float32).tiny)
        corr = jac @ jac.T
        eig = jnp.linalg.eigvalsh(corr)
        out["jacob_cov"] = -jnp.sum(jnp.log(eig + JACOB_K) + 1.0 / (eig + JACOB_K))
    if "naswot" in names:
        _, codes = _forward(params, layer_masks, images, strides, head, "batch")
        units = _masked_units(layer_masks, images.shape, strides)
        kernel = jnp.zeros((images.shape[0], images.shape[0]), jnp.float32)
        for c, u in zip(codes, units, strict=True):
            kernel += c @ c.T + ((1.0 - c) * u) @ ((1.0 - c) * u).T
        out["naswot"] = jnp.linalg.slogdet(kernel)[1]
    if "grad_norm" in names:

        def loss(p):
            logits, _ = _forward(p, layer_masks, images, strides, head, "batch")
            logp = jax.nn.log_softmax(logits)
            return -jnp.take_along_axis(logp, labels[:, None], axis=1).mean()

        g = jax.grad(loss)(params)
        norms = [jnp.linalg.norm(gw) for gw in g["kernels"]] + [
            jnp.linalg.norm(g["head"])
        ]
        out["grad_norm"] = sum(norms)
    return out


# ------------------------------------------------------------------- batched


def arch_id(arch: Architecture) -> int:
    """A stable 31-bit number of an architecture (its initialisation key)."""
    return zlib.crc32(str(arch).encode()) & 0x7FFFFFFF


def score_images(dataset: Dataset, count: int, key: jax.Array):
    """``count`` training images and labels drawn without replacement
    (``key`` consumed; the validation and test splits are never read)."""
    train = dataset.train
    if count > len(train.labels):
        raise ValueError(
            f"{count} score images but the training split has {len(train.labels)}"
        )
    idx = np.sort(
        np.asarray(jax.random.choice(key, len(train.labels), (count,), replace=False))
    )
    return train.images[idx], train.labels[idx].astype(np.int32)


class Scorer:
    """Scores many architectures of one space, compiled once per stride
    pattern and chunk size (keep one across episodes).

    Args:
      max_kernel: the space's largest kernel (odd: kernels sit centred).
      max_filters: the space's largest channel count.
      chunk: most networks in one compiled batch.
    """

    def __init__(self, max_kernel: int, max_filters: int, chunk: int = 16):
        if max_kernel % 2 == 0:
            raise ValueError(f"max_kernel must be odd, got {max_kernel}")
        self.max_kernel, self.max_filters, self.chunk = max_kernel, max_filters, chunk
        self._programs: dict[tuple, Callable] = {}
        self.trace_count = 0

    def _program(self, strides, head, names, positions, classes):
        sig = (strides, head, names, positions, classes)
        if sig not in self._programs:

            def one(key, layer_masks, images, labels):
                self.trace_count += 1
                params = init_params(key, layer_masks, positions, classes)
                return network_scores(
                    params, layer_masks, images, labels, strides, head, names
                )

            self._programs[sig] = jax.jit(jax.vmap(one, in_axes=(0, 0, None, None)))
        return self._programs[sig]

    def score(
        self,
        archs: Sequence[Architecture],
        dataset: Dataset,
        key: jax.Array,
        names: Sequence[str],
        images: int = 32,
        head: str = "gap",
    ) -> dict[str, np.ndarray]:
        """Every score of ``names`` for each architecture, ``[B]`` float64.

        A network is initialised from ``fold_in(init_key, arch_id(arch))``
        (its weights drawn in the padded shape, then masked) and every
        network sees the same ``images`` training images (``key``
        consumed), so an architecture's score depends only on it, ``key``
        and this scorer's padded sizes, not on the batch it was computed in.
        """
        names = check_names(names)
        shape = tuple(int(v) for v in dataset.input_shape)
        classes = int(dataset.num_classes)
        out = {n: np.full(len(archs), np.nan) for n in names}
        for i, arch in enumerate(archs):
            for n in names:
                fn = SCORES[n].structural
                if fn is not None:
                    out[n][i] = fn(arch, shape, classes, head)
        wanted = tuple(n for n in names if SCORES[n].kind == "network")
        if not wanted or not archs:
            return out
        image_key, init_key = jax.random.split(key)
        x, y = score_images(dataset, images, image_key)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, arch in enumerate(archs):
            groups.setdefault(tuple(s for _, _, s in arch.layers), []).append(i)
        for strides, members in groups.items():
            positions = head_inputs(strides, shape, head)
            program = self._program(strides, head, wanted, positions, classes)
            for start in range(0, len(members), self.chunk):
                part = members[start : start + self.chunk]
                size = child_batches.padded_size(len(part))
                filled = part + [part[0]] * (size - len(part))
                per = [
                    masks(archs[i], shape[2], self.max_kernel, self.max_filters)
                    for i in filled
                ]
                stacked = tuple(
                    jnp.asarray(np.stack([p[layer] for p in per]))
                    for layer in range(len(strides))
                )
                keys = jnp.stack(
                    [jax.random.fold_in(init_key, arch_id(archs[i])) for i in filled]
                )
                res = jax.device_get(program(keys, stacked, x, y))
                for n in wanted:
                    out[n][part] = np.asarray(res[n], np.float64)[: len(part)]
        return out
