"""Training of one child network for a fixed budget (slow exploration, step 3).

:class:`Trainer` keeps the compiled train-step and eval programs per
(architecture, input shape, classes, config, steps), so a repeated
architecture, or a later epoch, never recompiles; keep one Trainer across
episodes. :func:`train_child` is the one-call form.

A child whose training loss becomes NaN or infinite is stopped and reported as
failed (accuracy 0 and the reason); it never raises.

The budget and outcome records (:class:`TrainConfig`, :class:`TrainResult`),
the optimizer, the step and the data order, which the batched trainer
shares, are in :mod:`cosearch.child.train_steps`; the two records are importable
from here too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import make_single_device_sharding

from cosearch.child.network import as_layers, init_variables, make_model
from cosearch.child.train_steps import (
    TrainConfig,
    TrainResult,
    epoch_order,
    eval_batches,
    extend_checked,
    make_optimizer,
    put,
    sgd_step,
    training_split,
)
from cosearch.data import Dataset
from cosearch.hardware.architecture import Architecture


class _Programs(NamedTuple):
    init: Any
    step: Any
    evaluate: Any


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
        model = make_model(layers, num_classes, config.grad_impl, config.head)
        tx = make_optimizer(config, total_steps)
        b, e = config.batch_size, config.eval_batch_size
        placed = None if device is None else make_single_device_sharding(device)

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
        keep_variables: bool = False,
        eval_steps: Sequence[int] = (),
    ) -> TrainResult:
        """Trains ``arch`` on ``dataset.train``; scores it on ``dataset.val``.

        Args:
          arch: the architecture (or a list of (kernel, filters, stride)).
          dataset: images float32 ``[N, H, W, C]``, labels int32 ``[N]``.
          config: the budget and optimizer.
          key: consumed; split into initialisation and shuffling keys.
          device: where to train (None: the default device). The result does
            not depend on it for devices of one kind.
          keep_variables: return the trained variables (host copies) in the
            result, e.g. to save them.
          eval_steps: also score the validation split after these many
            steps (those below the budget; the training is unchanged), in
            the result's ``early``.

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
        early_at = sorted({int(s) for s in eval_steps if 0 < int(s) < total})
        early = []

        def val_accuracy(params, stats) -> float:
            return self.accuracy(
                programs,
                params,
                stats,
                dataset.val.images,
                dataset.val.labels,
                config.eval_batch_size,
                device,
            )

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
            if early_at and i + 1 == early_at[0]:
                early_at.pop(0)
                early.append((i + 1, val_accuracy(params, stats)))
        acc = 0.0
        if not failed:
            acc = val_accuracy(params, stats)
        variables = None
        if keep_variables:
            variables = jax.tree.map(
                np.asarray, jax.device_get({"params": params, "batch_stats": stats})
            )
        return TrainResult(
            val_accuracy=acc,
            loss_curve=losses,
            steps=len(losses),
            wall_s=time.perf_counter() - t0,
            compile_s=compile_s,
            failed=failed,
            reason=reason,
            variables=variables,
            early=tuple(early),
        )


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
