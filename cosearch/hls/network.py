"""The trained child network as the accelerators run it, and its JAX reference.

Each layer of :class:`cosearch.child.network.ChildCNN` is Conv + bias -> ReLU ->
BatchNorm. At inference BatchNorm is an affine map per channel, folded here
into ``y = relu * scale + shift`` with ``scale = gamma / sqrt(var + eps)``
and ``shift = beta - mean * scale``. It is applied after the ReLU and never
folded into the next conv: that conv zero-pads its input, and a shifted
input would pad with a value other than zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from cosearch.child.network import (
    BN_EPSILON,
    HEAD,
    check_head,
    make_model,
    pool_features,
)
from cosearch.hardware.architecture import Architecture


class FoldedLayer(NamedTuple):
    """One conv layer with its BatchNorm folded (float32 arrays).

    Attributes:
      kernel: ``[M, N, K, K]`` weights (OIHW).
      bias: ``[M]`` conv bias.
      scale: ``[M]`` BatchNorm scale, gamma / sqrt(var + eps).
      shift: ``[M]`` BatchNorm shift, beta - mean * scale.
      stride: S.
    """

    kernel: np.ndarray
    bias: np.ndarray
    scale: np.ndarray
    shift: np.ndarray
    stride: int


class Network(NamedTuple):
    """A trained child network in the exporter's terms.

    Attributes:
      architecture: its conv layers.
      layers: per layer, the folded parameters.
      head: "gap" or "flatten".
      head_kernel: ``[D, classes]`` float32 dense weights.
      head_bias: ``[classes]`` float32.
      input_shape: (height, width, channels).
      variables: the flax ``{"params", "batch_stats"}`` (the JAX reference).
    """

    architecture: Architecture
    layers: tuple[FoldedLayer, ...]
    head: str
    head_kernel: np.ndarray
    head_bias: np.ndarray
    input_shape: tuple[int, int, int]
    variables: Mapping[str, Any]

    @property
    def num_classes(self) -> int:
        return int(self.head_kernel.shape[1])

    def model(self):
        """The flax module of the network."""
        return make_model(self.architecture, self.num_classes, head=self.head)


def fold(
    architecture: Architecture,
    variables: Mapping[str, Any],
    input_shape: Sequence[int],
    head: str,
    num_classes: int,
) -> Network:
    """The :class:`Network` of trained flax variables.

    Args:
      architecture: the conv layers the variables belong to.
      variables: ``{"params", "batch_stats"}`` of
        ``make_model(architecture, num_classes, head=head)``.
      input_shape: (height, width, channels).
      head: "gap" or "flatten".
      num_classes: outputs of the head.

    Raises:
      ValueError: the variables do not fit the architecture.
    """
    params = jax.tree.map(np.asarray, dict(variables["params"]))
    stats = jax.tree.map(np.asarray, dict(variables["batch_stats"]))
    layers = []
    cin = int(input_shape[2])
    for i, (k, f, s) in enumerate(architecture.layers):
        conv, bn = params[f"Conv_{i}"], params[f"BatchNorm_{i}"]
        mv = stats[f"BatchNorm_{i}"]
        if conv["kernel"].shape != (k, k, cin, f):
            raise ValueError(
                f"layer {i}: kernel shape {conv['kernel'].shape}, expected "
                f"{(k, k, cin, f)}"
            )
        scale = bn["scale"].astype(np.float64) / np.sqrt(
            mv["var"].astype(np.float64) + BN_EPSILON
        )
        shift = bn["bias"].astype(np.float64) - mv["mean"].astype(np.float64) * scale
        layers.append(
            FoldedLayer(
                kernel=np.ascontiguousarray(
                    conv["kernel"].transpose(3, 2, 0, 1), np.float32
                ),
                bias=conv["bias"].astype(np.float32),
                scale=scale.astype(np.float32),
                shift=shift.astype(np.float32),
                stride=int(s),
            )
        )
        cin = f
    dense = params[HEAD]
    if dense["kernel"].shape[1] != num_classes:
        raise ValueError(
            f"head has {dense['kernel'].shape[1]} outputs, expected {num_classes}"
        )
    return Network(
        architecture=architecture,
        layers=tuple(layers),
        head=check_head(head),
        head_kernel=dense["kernel"].astype(np.float32),
        head_bias=dense["bias"].astype(np.float32),
        input_shape=tuple(int(v) for v in input_shape),
        variables=variables,
    )


def head_logits(network: Network, features: np.ndarray) -> np.ndarray:
    """Logits of ``[B, H, W, C]`` features through the head (float32)."""
    pooled = np.asarray(pool_features(np.asarray(features, np.float32), network.head))
    return pooled @ network.head_kernel + network.head_bias


def reference(
    network: Network, images: np.ndarray, batch: int = 250
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The JAX network on ``images``: logits and every layer's output.

    Args:
      network: the network.
      images: ``[B, H, W, C]`` float32 (NHWC).
      batch: images per call.

    Returns:
      (``[B, classes]`` logits, per layer ``[B, H', W', M]`` outputs), NumPy.
    """
    model = network.model()
    apply = jax.jit(
        lambda v, x: model.apply(
            v, x, False, capture_intermediates=True, mutable=["intermediates"]
        )
    )
    logits, maps = [], [[] for _ in network.layers]
    for start in range(0, len(images), batch):
        x = np.asarray(images[start : start + batch], np.float32)
        out, state = apply(network.variables, x)
        logits.append(np.asarray(out))
        inter = state["intermediates"]
        for i in range(len(network.layers)):
            maps[i].append(np.asarray(inter[f"BatchNorm_{i}"]["__call__"][0]))
    return np.concatenate(logits), [np.concatenate(m) for m in maps]
