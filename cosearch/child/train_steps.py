"""The training pieces both child trainers share.

The per-architecture :class:`cosearch.child.train.Trainer` and the batched
:class:`cosearch.child.batched.BatchedTrainer` train with the same budget
(:class:`TrainConfig`), optimizer (:func:`make_optimizer`), step
(:func:`sgd_step`), data order (:func:`training_split`, :func:`epoch_order`,
:func:`eval_batches`) and failure check (:func:`extend_checked`), and report a
:class:`TrainResult`; this module holds them so that the two cannot drift.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import numpy as np
import optax

from cosearch.child.network import HEAD, check_head
from cosearch.data import Dataset, host_rng

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("cosine", "constant")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Budget and optimizer of child training.

    The default budget (100 SGD steps of 64 images, about 0.7 epoch of the
    embedded set) takes the 6-layer released design to about 82% validation
    accuracy on the embedded Fashion-MNIST subset; see BUILD_NOTES.md.

    Attributes:
      epochs: passes over the training split (used when ``steps`` is None).
      steps: optimizer steps; overrides ``epochs`` unless None.
      batch_size: images per step (the last partial batch of an epoch is
        dropped, so every step has the same shape).
      optimizer: "sgd" (with momentum) or "adam".
      learning_rate: peak learning rate.
      momentum: SGD momentum (ignored for Adam).
      schedule: "cosine" (decay to 0 over the budget) or "constant".
      warmup_steps: steps of linear warm-up from 0 to the peak learning rate
        before the schedule (0: none).
      grad_clip: global-norm bound on each step's gradient (None: no clip).
      head_lr_scale: factor on the learning rate of the dense head. The
        flatten head sees H*W*C inputs (tens of thousands for 28x28 maps of
        64 channels, each about unit variance after batch norm), so one SGD
        step moves its logits about that many times more than one step
        moves a conv layer's outputs; a factor < 1 evens this out
        (BUILD_NOTES.md, "Accuracy axis and proxy"). The gap head sees C
        inputs and needs none.
      weight_decay: L2 weight decay on conv and dense kernels (coupled for
        SGD, decoupled AdamW for Adam); 0 turns it off.
      eval_batch_size: images per evaluation batch (batched training shares
        them among a program's children: ``cosearch.child.batches.eval_images``).
      train_examples: if set, use only this many training examples (a fixed,
        seed-independent prefix of the split).
      check_every: steps between NaN/inf checks of the loss.
      grad_impl: conv gradient implementation, see ``cosearch.child.conv.conv2d``.
      head: the child's classifier head, one of ``cosearch.child.network.HEADS``
        (part of the network, kept here because it belongs to every
        compiled program's key like the rest of this record).
    """

    epochs: int = 1
    steps: int | None = 100
    batch_size: int = 64
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup_steps: int = 0
    grad_clip: float | None = None
    head_lr_scale: float = 1.0
    weight_decay: float = 5e-4
    eval_batch_size: int = 500
    train_examples: int | None = None
    check_every: int = 10
    grad_impl: str = "auto"
    head: str = "flatten"

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r}: expected {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule {self.schedule!r}: expected {SCHEDULES}")
        for name in ("epochs", "batch_size", "eval_batch_size", "check_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or None, got {self.grad_clip}")
        if not 0 < self.head_lr_scale <= 100:
            raise ValueError(
                f"head_lr_scale must be in (0, 100], got {self.head_lr_scale}"
            )
        # Out-of-range values would "train" every child to chance and report it.
        if not 0 < self.learning_rate <= 10:
            raise ValueError(
                f"learning_rate must be in (0, 10], got {self.learning_rate}"
            )
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if not 0 <= self.weight_decay < 1:
            raise ValueError(f"weight_decay must be in [0, 1), got {self.weight_decay}")
        if self.train_examples is not None and self.train_examples < 1:
            raise ValueError(
                f"train_examples must be >= 1 or None, got {self.train_examples}"
            )
        check_head(self.head)

    def total_steps(self, num_train: int) -> int:
        """Optimizer steps of the budget for ``num_train`` training examples."""
        if self.steps is not None:
            return self.steps
        n = min(num_train, self.train_examples or num_train)
        return self.epochs * max(n // self.batch_size, 1)


class TrainResult(NamedTuple):
    """Outcome of training one child.

    Attributes:
      val_accuracy: fraction of the validation split classified right (0 if
        failed).
      loss_curve: training loss (mean cross-entropy) of every step run.
      steps: optimizer steps run.
      wall_s: seconds for the whole call, compilation included.
      compile_s: seconds spent compiling (0 when the programs were cached).
      failed: True when training stopped on a NaN/inf loss.
      reason: why it failed ("" otherwise).
      variables: the trained ``{"params", "batch_stats"}`` as NumPy arrays
        when asked for (``keep_variables``), else None.
      early: ``((step, val_accuracy), ...)`` scored part-way through, after
        the steps asked for (``eval_steps``; the final one is
        ``val_accuracy``): what a successive-halving rung of that budget
        would see, on the same run.
    """

    val_accuracy: float
    loss_curve: list[float]
    steps: int
    wall_s: float
    compile_s: float
    failed: bool
    reason: str
    variables: dict | None = None
    early: tuple[tuple[int, float], ...] = ()


def learning_rate_schedule(config: TrainConfig, total_steps: int):
    """Peak ``config.learning_rate`` after a linear warm-up of
    ``config.warmup_steps``, then constant or cosine-decayed to 0 at
    ``total_steps``; a float when nothing varies."""
    warm = min(config.warmup_steps, total_steps - 1)
    if config.schedule == "constant" and not warm:
        return config.learning_rate
    if config.schedule == "cosine":
        if not warm:
            return optax.cosine_decay_schedule(config.learning_rate, total_steps)
        return optax.warmup_cosine_decay_schedule(
            0.0, config.learning_rate, warm, total_steps
        )
    return optax.join_schedules(
        [
            optax.linear_schedule(0.0, config.learning_rate, warm),
            optax.constant_schedule(config.learning_rate),
        ],
        [warm],
    )


def _scale_head(factor: float) -> optax.GradientTransformation:
    """Multiplies the dense head's updates by ``factor``."""

    def is_head(path) -> bool:
        return any(getattr(k, "key", None) == HEAD for k in path)

    def update(updates, state, params=None):
        del params
        return (
            jax.tree_util.tree_map_with_path(
                lambda path, u: u * factor if is_head(path) else u, updates
            ),
            state,
        )

    return optax.GradientTransformation(lambda _: optax.EmptyState(), update)


def make_optimizer(config: TrainConfig, total_steps: int):
    """The optax transformation of ``config`` over ``total_steps`` steps:
    optional global-norm clipping, coupled weight decay (SGD) or AdamW, the
    learning-rate schedule, and the head's learning-rate factor."""
    lr = learning_rate_schedule(config, total_steps)

    def kernels(params):
        return jax.tree.map(lambda p: p.ndim > 1, params)

    parts = []
    if config.grad_clip is not None:
        parts.append(optax.clip_by_global_norm(config.grad_clip))
    if config.optimizer == "adam":
        parts.append(optax.adamw(lr, weight_decay=config.weight_decay, mask=kernels))
    else:
        parts += [
            optax.add_decayed_weights(config.weight_decay, mask=kernels),
            optax.sgd(lr, momentum=config.momentum),
        ]
    if config.head_lr_scale != 1.0:
        parts.append(_scale_head(config.head_lr_scale))
    return optax.chain(*parts)


def sgd_step(apply, tx, params, stats, opt_state, x, y):
    """One optimizer step of a child on ``(x, y)``; the one definition the
    per-architecture and the batched trainers share.

    Args:
      apply: ``apply(variables, x, train=True, mutable=["batch_stats"])`` ->
        (logits, updated collections), e.g. a flax module's ``apply``.
      tx: the optax transformation.

    Returns:
      (params, batch statistics, optimizer state, mean cross-entropy loss).
    """

    def loss_fn(p):
        logits, upd = apply(
            {"params": p, "batch_stats": stats}, x, train=True, mutable=["batch_stats"]
        )
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y)
        return loss.mean(), upd["batch_stats"]

    (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), stats, opt_state, loss


def put(tree, device):
    """``tree`` committed to ``device`` (a device or a sharding; unchanged
    when None)."""
    return tree if device is None else jax.device_put(tree, device)


def epoch_order(shuffle_key: jax.Array, epoch: int, n: int) -> np.ndarray:
    """The order of a child's ``n`` training examples in ``epoch``."""
    return host_rng(jax.random.fold_in(shuffle_key, epoch)).permutation(n)


def extend_checked(curve: list[float], losses: Sequence[float]) -> str:
    """Appends ``losses`` (one check's worth) to a child's loss ``curve``;
    returns why training failed (the first NaN/inf loss, and the step at
    which the check saw it), or "" if every loss is finite."""
    curve.extend(losses)
    bad = [v for v in losses if not math.isfinite(v)]
    return f"training loss became {bad[0]} at step {len(curve)}" if bad else ""


def training_split(dataset: Dataset, config: TrainConfig):
    """(images, labels, optimizer steps) a child trains on under ``config``.

    Raises:
      ValueError: fewer training examples than one batch.
    """
    images, labels = dataset.train.images, dataset.train.labels
    if config.train_examples is not None:
        images = images[: config.train_examples]
        labels = labels[: config.train_examples]
    n = labels.shape[0]
    if n < config.batch_size:
        raise ValueError(f"{n} training examples < batch_size {config.batch_size}")
    return images, labels, config.total_steps(n)


def eval_batches(images: np.ndarray, labels: np.ndarray, size: int):
    """``(x [size, ...], y [size], mask [size])`` batches covering the split,
    the last one padded with zeros and masked out."""
    for start in range(0, labels.shape[0], size):
        x = images[start : start + size]
        y = labels[start : start + size]
        m = np.ones(size, bool)
        if x.shape[0] < size:
            pad = size - x.shape[0]
            m[x.shape[0] :] = False
            x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)])
            y = np.concatenate([y, np.zeros(pad, y.dtype)])
        yield x, y, m
