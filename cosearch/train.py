"""Training of one child network for a fixed budget (slow exploration, step 3).

:class:`Trainer` keeps the compiled train-step and eval programs per
(architecture, input shape, classes, config, steps), so a repeated
architecture, or a later epoch, never recompiles; keep one Trainer across
episodes. :func:`train_child` is the one-call form.

A child whose training loss becomes NaN or infinite is stopped and reported as
failed (accuracy 0 and the reason); it never raises.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import SingleDeviceSharding

from cosearch.child import HEAD, as_layers, init_variables, make_model
from cosearch.data import Dataset, host_rng
from cosearch.hardware.architecture import Architecture

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
      head_lr_scale: factor on the learning rate of the dense head. The head
        sees H*W*C inputs (tens of thousands for 28x28 maps of 64 channels,
        each about unit variance after batch norm), so one SGD step moves its
        logits about that many times more than one step moves a conv
        layer's outputs; a factor < 1 evens this out (BUILD_NOTES.md,
        "Child training proxy").
      weight_decay: L2 weight decay on conv and dense kernels (coupled for
        SGD, decoupled AdamW for Adam); 0 turns it off.
      eval_batch_size: images per evaluation batch (batched training shares
        them among a program's children: ``cosearch.child_batches.eval_images``).
      train_examples: if set, use only this many training examples (a fixed,
        seed-independent prefix of the split).
      check_every: steps between NaN/inf checks of the loss.
      grad_impl: conv gradient implementation, see ``cosearch.conv.conv2d``.
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
        if not self.head_lr_scale > 0:
            raise ValueError(f"head_lr_scale must be > 0, got {self.head_lr_scale}")

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
    """

    val_accuracy: float
    loss_curve: list[float]
    steps: int
    wall_s: float
    compile_s: float
    failed: bool
    reason: str


class _Programs(NamedTuple):
    init: Any
    step: Any
    evaluate: Any


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


class ProgramCache:
    """Compiled programs by key, built once each and safe to use from several
    threads: threads asking for one key wait for a single build, threads
    asking for different keys build concurrently. Shared by the
    per-architecture and the batched trainers."""

    def __init__(self):
        self._items: dict[Any, Any] = {}
        self._locks: dict[Any, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key, build: Callable[[], Any]) -> tuple[Any, float]:
        """(the programs of ``key``, seconds ``build()`` took; 0.0 when
        cached)."""
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._items:
                return self._items[key], 0.0
            t0 = time.perf_counter()
            built = build()
            with self._lock:
                self._items[key] = built
            return built, time.perf_counter() - t0

    def items(self) -> list[tuple[Any, Any]]:
        """(key, programs) pairs built so far."""
        with self._lock:
            return list(self._items.items())


class Trainer:
    """Trains children, compiling once per distinct (architecture, shapes, config).

    Attributes:
      trace_count: how many times a program was traced and compiled (for
        tests and logs).
    """

    def __init__(self):
        self._cache = ProgramCache()
        self._lock = threading.Lock()  # guards trace_count
        self.trace_count = 0

    def programs(
        self, layers, input_shape, num_classes, config, total_steps, device=None
    ):
        """The (cached) programs of one child and the seconds spent compiling.

        Safe to call from several threads: a program is compiled once, and
        threads asking for different programs compile them concurrently.

        Args:
          layers: tuple of (kernel, filters, stride).
          input_shape: (height, width, channels).
          num_classes: outputs of the head.
          config: the budget and optimizer.
          total_steps: steps of the learning-rate schedule.
          device: the device the programs run on (None: the default device,
            with uncommitted inputs).

        Returns:
          (programs, compile seconds; 0.0 when cached). ``programs.init(key)``
          gives (params, batch_stats, opt_state) eagerly (nothing compiled per
          architecture); ``programs.step(params, stats, opt_state, x [B, H, W,
          C], y [B])`` returns the updated three and the loss (it donates its
          inputs); ``programs.evaluate(params, stats, x [E, H, W, C], y [E],
          mask [E])`` returns the number of correct unmasked predictions.
        """
        key = (layers, tuple(input_shape), num_classes, config, total_steps, device)
        return self._cache.get(
            key,
            lambda: self._compile(
                layers, input_shape, num_classes, config, total_steps, device
            ),
        )

    def _compile(self, layers, input_shape, num_classes, config, total_steps, device):
        model = make_model(layers, num_classes, config.grad_impl)
        tx = make_optimizer(config, total_steps)
        b, e = config.batch_size, config.eval_batch_size
        placed = None if device is None else SingleDeviceSharding(device)

        def spec(shape, dtype):
            return jax.ShapeDtypeStruct(shape, dtype, sharding=placed)

        x_spec = spec((b, *input_shape), jnp.float32)
        y_spec = spec((b,), jnp.int32)

        def init(key):
            variables = init_variables(model, input_shape, key)
            params, stats = variables["params"], variables["batch_stats"]
            return params, stats, tx.init(params)

        def step(params, stats, opt_state, x, y):
            with self._lock:
                self.trace_count += 1
            return sgd_step(model.apply, tx, params, stats, opt_state, x, y)

        def evaluate(params, stats, x, y, mask):
            with self._lock:
                self.trace_count += 1
            logits = model.apply({"params": params, "batch_stats": stats}, x, False)
            return jnp.sum((jnp.argmax(logits, -1) == y) & mask)

        key_spec = jax.eval_shape(lambda: jax.random.key(0))
        p_spec, s_spec, o_spec = jax.tree.map(
            lambda a: spec(a.shape, a.dtype), jax.eval_shape(init, key_spec)
        )
        step_c = (
            jax.jit(step, donate_argnums=(0, 1, 2))
            .lower(p_spec, s_spec, o_spec, x_spec, y_spec)
            .compile()
        )
        eval_c = (
            jax.jit(evaluate)
            .lower(
                p_spec,
                s_spec,
                spec((e, *input_shape), jnp.float32),
                spec((e,), jnp.int32),
                spec((e,), jnp.bool_),
            )
            .compile()
        )
        return _Programs(init, step_c, eval_c)

    def accuracy(
        self, programs, params, stats, images, labels, eval_batch, device=None
    ):
        """Fraction of ``images`` classified right (padded last batch masked)."""
        correct = 0
        for x, y, m in eval_batches(images, labels, eval_batch):
            x, y, m = put((x, y, m), device)
            correct += int(programs.evaluate(params, stats, x, y, m))
        return correct / max(labels.shape[0], 1)

    def train(
        self,
        arch: Architecture | Sequence[Sequence[int]],
        dataset: Dataset,
        config: TrainConfig,
        key: jax.Array,
        device: jax.Device | None = None,
    ) -> TrainResult:
        """Trains ``arch`` on ``dataset.train``; scores it on ``dataset.val``.

        Args:
          arch: the architecture (or a list of (kernel, filters, stride)).
          dataset: images float32 ``[N, H, W, C]``, labels int32 ``[N]``.
          config: the budget and optimizer.
          key: consumed; split into initialisation and shuffling keys.
          device: where to train (None: the default device). The result does
            not depend on it for devices of one kind.

        Returns:
          The :class:`TrainResult`; ``failed`` on a NaN/inf loss.
        """
        t0 = time.perf_counter()
        layers = as_layers(arch)
        images, labels, total = training_split(dataset, config)
        n = labels.shape[0]
        programs, compile_s = self.programs(
            layers, dataset.input_shape, dataset.num_classes, config, total, device
        )
        init_key, shuffle_key = jax.random.split(key)
        with jax.default_device(device):
            params, stats, opt_state = put(programs.init(init_key), device)
        per_epoch = n // config.batch_size
        losses, pending = [], []
        failed, reason = False, ""
        order = None
        for i in range(total):
            epoch, j = divmod(i, per_epoch)
            if j == 0:
                order = epoch_order(shuffle_key, epoch, n)
            idx = order[j * config.batch_size : (j + 1) * config.batch_size]
            x, y = put((images[idx], labels[idx]), device)
            params, stats, opt_state, loss = programs.step(
                params, stats, opt_state, x, y
            )
            pending.append(loss)
            if len(pending) == config.check_every or i == total - 1:
                chunk = [float(v) for v in jax.device_get(pending)]
                pending = []
                reason = extend_checked(losses, chunk)
                if reason:
                    failed = True
                    break
        acc = 0.0
        if not failed:
            acc = self.accuracy(
                programs,
                params,
                stats,
                dataset.val.images,
                dataset.val.labels,
                config.eval_batch_size,
                device,
            )
        return TrainResult(
            val_accuracy=acc,
            loss_curve=losses,
            steps=len(losses),
            wall_s=time.perf_counter() - t0,
            compile_s=compile_s,
            failed=failed,
            reason=reason,
        )


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


def train_child(
    arch: Architecture | Sequence[Sequence[int]],
    dataset: Dataset,
    config: TrainConfig,
    key: jax.Array,
    trainer: Trainer | None = None,
) -> TrainResult:
    """Trains one child (see :meth:`Trainer.train`); pass a Trainer to reuse
    its compiled programs."""
    return (trainer or Trainer()).train(arch, dataset, config, key)
