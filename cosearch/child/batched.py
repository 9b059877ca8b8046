"""Children of one depth and stride pattern trained together in one program.

A child of the search space is a chain of conv layers whose kernels and
channel counts vary; trained one at a time each architecture needs its own
compiled program, and on an accelerator one small child fills a tiny part of
the chip. :class:`BatchedTrainer` trains K children at once under
``jax.vmap`` in one program that depends only on (depth, stride pattern,
input shape, classes, training config, K), not on kernels and channels:

* every child is padded to the space's largest kernel and channel count,
  with masks so that it computes exactly its own network
  (:mod:`cosearch.child.padded`);
* each child keeps its own initial weights (its unbatched initialisation,
  embedded), its own shuffling key, its own optimizer state (the update is
  vmapped too, so clipping and schedules are per child) and its own NaN/inf
  failure;
* K is padded to a few sizes and the batch placed on one device or split
  over several (:mod:`cosearch.child.batches`); a training step holds K
  times a child's batch, while evaluation shares ``eval_batch_size``
  image-evaluations among the children (:func:`eval_images`).

What a child computes is its own network; the values differ from an
unbatched run only by float rounding (sums over padded zeros in another
order, another convolution algorithm for the padded shapes): see the tests
and BUILD_NOTES.md for the tolerance. The rounding may depend on the padded
batch size, so a search with batching on repeats itself exactly at a fixed
device count, and agrees to that tolerance across device counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cosearch.child.batches import (
    BATCH_SIZES,
    Placement,
    eval_images,
    group_key,
    padded_size,
)
from cosearch.child.network import init_variables, make_model
from cosearch.child.padded import PaddedChild, embed, masks
from cosearch.child.train import ProgramCache
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

# train.batched values: "on", "off", or "auto" (see :func:`use_batched`).
MODES = ("auto", "on", "off")


def use_batched(mode: str, backend: str | None = None) -> bool:
    """Whether the search trains children batched under ``train.batched``.

    ``auto`` is "on" on accelerators and "off" on the CPU, where the padded
    FLOPs cost more than the compilations they save (BUILD_NOTES.md, "Batched
    child training").
    """
    if mode not in MODES:
        raise ValueError(f"train.batched {mode!r}: expected one of {MODES}")
    if mode != "auto":
        return mode == "on"
    return (backend or jax.default_backend()) != "cpu"


class _Shape(NamedTuple):
    """What a batched program depends on."""

    strides: tuple[int, ...]
    max_kernel: int
    max_filters: int
    input_shape: tuple[int, int, int]
    num_classes: int
    config: TrainConfig
    total_steps: int
    size: int


class _Programs(NamedTuple):
    step: Any
    evaluate: Any
    init_opt: Any
    eval_images: int  # validation images per evaluation step


class BatchedTrainer:
    """Trains children K at a time, one compiled program per shape.

    Attributes:
      max_kernel: padded kernel size (the space's largest; odd).
      max_filters: padded channel count (the space's largest).
      trace_count: programs traced (for tests and logs).
    """

    def __init__(self, max_kernel: int, max_filters: int):
        if max_kernel < 1 or max_kernel % 2 == 0:
            raise ValueError(f"max_kernel must be odd and positive, got {max_kernel}")
        self.max_kernel = int(max_kernel)
        self.max_filters = int(max_filters)
        self._cache = ProgramCache()  # _Programs by (shape, devices)
        self._lock = threading.Lock()  # guards trace_count
        self.trace_count = 0

    def supports(self, arch: Architecture) -> bool:
        """Whether ``arch`` fits the padded network (odd kernels within it)."""
        return all(
            k % 2 == 1 and k <= self.max_kernel and f <= self.max_filters
            for k, f, _ in arch.layers
        )

    def programs(self, shape: _Shape, placement: Placement) -> tuple[_Programs, float]:
        """The (cached) programs of ``shape`` on ``placement``'s devices and
        the seconds spent compiling."""
        key = (shape, placement.devices)
        return self._cache.get(key, lambda: self._compile(shape, placement))

    def step_bytes(self) -> int:
        """Device memory the largest training-step program compiled so far
        needs (arguments, outputs and temporaries, per device; 0 if the
        backend does not say)."""
        most = 0
        for _, p in self._cache.items():
            stats = p.step.memory_analysis()
            if stats is not None:
                used = (
                    stats.argument_size_in_bytes
                    + stats.output_size_in_bytes
                    + stats.temp_size_in_bytes
                    - stats.alias_size_in_bytes
                )
                most = max(most, int(used))
        return most

    def _compile(self, shape: _Shape, placement: Placement) -> _Programs:
        model = PaddedChild(
            shape.strides,
            shape.max_kernel,
            shape.max_filters,
            shape.num_classes,
            shape.config.grad_impl,
            shape.config.head,
        )
        tx = make_optimizer(shape.config, shape.total_steps)

        def one_step(params, stats, opt_state, taps, channels, x, y):
            def apply(variables, x, **kwargs):
                return model.apply(variables, x, taps, channels, **kwargs)

            return sgd_step(apply, tx, params, stats, opt_state, x, y)

        def step(*args):
            with self._lock:
                self.trace_count += 1
            return jax.vmap(one_step)(*args)

        def one_eval(params, stats, taps, channels, x, y, mask):
            logits = model.apply(
                {"params": params, "batch_stats": stats}, x, taps, channels, False
            )
            return jnp.sum((jnp.argmax(logits, -1) == y) & mask)

        def evaluate(params, stats, taps, channels, x, y, mask):
            with self._lock:
                self.trace_count += 1
            return jax.vmap(one_eval, in_axes=(0, 0, 0, 0, None, None, None))(
                params, stats, taps, channels, x, y, mask
            )

        k, (h, w, c) = shape.size, shape.input_shape
        depth, kmax, cmax = len(shape.strides), shape.max_kernel, shape.max_filters

        def spec(shape_, dtype=jnp.float32, sharding=placement.children):
            return jax.ShapeDtypeStruct(shape_, dtype, sharding=sharding)

        def stacked(tree):
            return jax.tree.map(lambda a: spec((k, *a.shape), a.dtype), tree)

        one = jax.eval_shape(
            lambda: model.init(
                jax.random.key(0),
                jnp.zeros((1, h, w, c)),
                jnp.zeros((depth, kmax, kmax)),
                jnp.zeros((depth, cmax)),
                train=False,
            )
        )
        p_spec, s_spec = stacked(one["params"]), stacked(one["batch_stats"])
        o_spec = stacked(jax.eval_shape(tx.init, one["params"]))
        m_specs = (spec((k, depth, kmax, kmax)), spec((k, depth, cmax)))
        b = shape.config.batch_size
        e = eval_images(
            shape.config.eval_batch_size, k, placement.count, shape.config.batch_size
        )
        # Every output keeps the children axis where the inputs have it.
        out = (
            {} if placement.children is None else {"out_shardings": placement.children}
        )
        shared = placement.replicated
        step_c = (
            jax.jit(placement.split(step), donate_argnums=(0, 1, 2), **out)
            .lower(
                p_spec,
                s_spec,
                o_spec,
                *m_specs,
                spec((k, b, h, w, c)),
                spec((k, b), jnp.int32),
            )
            .compile()
        )
        eval_c = (
            jax.jit(placement.split(evaluate, shared=3), **out)
            .lower(
                p_spec,
                s_spec,
                *m_specs,
                spec((e, h, w, c), sharding=shared),
                spec((e,), jnp.int32, sharding=shared),
                spec((e,), jnp.bool_, sharding=shared),
            )
            .compile()
        )
        return _Programs(step_c, eval_c, jax.vmap(tx.init), e)

    def train(
        self,
        archs: Sequence[Architecture],
        dataset: Dataset,
        config: TrainConfig,
        keys: Sequence[jax.Array],
        devices: jax.Device | Sequence[jax.Device] | None = None,
    ) -> list[TrainResult]:
        """Trains ``archs`` (one depth and stride pattern) together.

        Args:
          archs: the children; every one must satisfy :meth:`supports` and
            share :func:`group_key`.
          dataset: images float32 ``[N, H, W, C]``, labels int32 ``[N]``.
          config: the budget and optimizer (shared).
          keys: one per child, consumed as :meth:`cosearch.child.train.Trainer.train`
            consumes its key (initialisation and shuffling).
          devices: where to train: None (the default device), a device, or
            several devices, over which the children axis is split (one
            program; up to 64 children per device in it).

        Returns:
          One :class:`TrainResult` per child; ``wall_s`` is its share of its
          program's run (the run's wall time over the children it trained,
          up to 64 per device), ``compile_s`` that program's compile time.
        """
        archs = list(archs)
        if len(archs) != len(keys):
            raise ValueError(f"{len(archs)} architectures but {len(keys)} keys")
        if not archs:
            return []
        strides = group_key(archs[0])
        for a in archs:
            if group_key(a) != strides:
                raise ValueError(f"{a}: strides differ from {archs[0]}")
            if not self.supports(a):
                raise ValueError(
                    f"{a}: needs odd kernels <= {self.max_kernel} and filters "
                    f"<= {self.max_filters}"
                )
        placement = Placement.of(devices)
        out: list[TrainResult] = []
        chunk = BATCH_SIZES[-1] * placement.count
        for start in range(0, len(archs), chunk):
            out += self._train_chunk(
                archs[start : start + chunk],
                dataset,
                config,
                list(keys[start : start + chunk]),
                strides,
                placement,
            )
        return out

    def _train_chunk(self, archs, dataset, config, keys, strides, placement):
        t0 = time.perf_counter()
        count = len(archs)
        size = padded_size(count, placement.count)
        images, labels, total = training_split(dataset, config)
        n = labels.shape[0]
        shape = _Shape(
            strides,
            self.max_kernel,
            self.max_filters,
            tuple(dataset.input_shape),
            dataset.num_classes,
            config,
            total,
            size,
        )
        programs, compile_s = self.programs(shape, placement)
        split = [jax.random.split(k) for k in keys]
        shuffle_keys = [s[1] for s in split]
        padded = []
        for a, (init_key, _) in zip(archs, split, strict=True):
            own = init_variables(
                make_model(a, dataset.num_classes, config.grad_impl, config.head),
                dataset.input_shape,
                init_key,
            )
            padded.append(
                embed(own, a, dataset.input_shape, self.max_kernel, self.max_filters)
            )
        # Filler children repeat the first one and are discarded.
        filler = size - count
        archs_p = archs + [archs[0]] * filler
        shuffle_keys += [shuffle_keys[0]] * filler
        padded += [padded[0]] * filler
        stacked = jax.tree.map(lambda *v: np.stack(v), *padded)
        mask_pairs = [masks(a, self.max_kernel, self.max_filters) for a in archs_p]
        taps = np.stack([m[0] for m in mask_pairs])
        channels = np.stack([m[1] for m in mask_pairs])
        placed = placement.children
        with jax.default_device(placement.default):
            params = put(stacked["params"], placed)
            stats = put(stacked["batch_stats"], placed)
            taps, channels = put((jnp.asarray(taps), jnp.asarray(channels)), placed)
            opt_state = put(programs.init_opt(params), placed)
        per_epoch = n // config.batch_size
        losses: list[list[float]] = [[] for _ in range(size)]
        failed = [False] * size
        reason = [""] * size
        pending = []
        orders: list[np.ndarray] = []
        for i in range(total):
            epoch, j = divmod(i, per_epoch)
            if j == 0:
                orders = [epoch_order(k, epoch, n) for k in shuffle_keys]
            b = config.batch_size
            idx = np.stack([o[j * b : (j + 1) * b] for o in orders])  # [K, B]
            x, y = put((images[idx], labels[idx]), placed)
            with jax.default_device(placement.default):
                params, stats, opt_state, loss = programs.step(
                    params, stats, opt_state, taps, channels, x, y
                )
            pending.append(loss)
            if len(pending) == config.check_every or i == total - 1:
                chunk = np.asarray(jax.device_get(pending), np.float64)  # [T, K]
                pending = []
                for c in range(size):
                    if not failed[c]:
                        reason[c] = extend_checked(losses[c], chunk[:, c].tolist())
                        failed[c] = bool(reason[c])
                if all(failed[:count]):
                    break
        correct = np.zeros(size, np.int64)
        if not all(failed[:count]):
            correct = self._correct(
                programs,
                params,
                stats,
                taps,
                channels,
                dataset,
                placement,
            )
        share = (time.perf_counter() - t0) / count
        nval = max(int(dataset.val.labels.shape[0]), 1)
        return [
            TrainResult(
                val_accuracy=0.0 if failed[c] else float(correct[c]) / nval,
                loss_curve=losses[c],
                steps=len(losses[c]),
                wall_s=share,
                compile_s=compile_s,
                failed=failed[c],
                reason=reason[c],
            )
            for c in range(count)
        ]

    def _correct(self, programs, params, stats, taps, channels, dataset, placement):
        total = np.zeros(taps.shape[0], np.int64)
        val = dataset.val
        for x, y, m in eval_batches(val.images, val.labels, programs.eval_images):
            x, y, m = put((x, y, m), placement.replicated)
            with jax.default_device(placement.default):
                part = programs.evaluate(params, stats, taps, channels, x, y, m)
            total = total + np.asarray(part, np.int64)
        return total
